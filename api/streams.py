"""Helpers for the answers both APIs drive through chat.streaming.iterate_in_thread."""

from __future__ import annotations

from collections.abc import AsyncIterator

from chat.services import AskEvent


async def aclose(events: AsyncIterator[AskEvent]) -> None:
    """Stop the answer's thread now rather than when the generator is collected (a client that
    goes away cancels the request; the partial answer is then stored as stopped)."""
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


async def last_event(first: AskEvent, events: AsyncIterator[AskEvent]) -> AskEvent:
    """Wait for the end of the answer: its AskCompleted or AskFailed."""
    final = first
    try:
        async for event in events:
            final = event
    finally:
        await aclose(events)
    return final

"""Streaming answers to async views (web UI and API) as Server-Sent Events.

Answering is synchronous code (ORM, SDK streams). Under ASGI a synchronous iterator would be
buffered whole before the first byte is sent, so each stream runs its generator in a thread of
its own and hands the events to the event loop through a queue. When the client goes away,
Django cancels the response; the thread notices at the next event and closes the generator,
which stores the partial answer as "stopped".
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from django.db import connections

from chat.services import AskCompleted, AskEvent, AskFailed, AskStarted
from chat.strategies.base import CitationFound, TextDelta

logger = logging.getLogger(__name__)

T = TypeVar("T")
_DONE = object()


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


async def iterate_in_thread(make_iterator: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Yield the items of a synchronous iterator that runs in its own thread."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    stop = threading.Event()

    def put(item: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone (server shutting down)
            stop.set()

    def run() -> None:
        try:
            iterator = make_iterator()
            try:
                for item in iterator:
                    put(item)
                    if stop.is_set():
                        break
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        except BaseException as error:
            put(_Raised(error))
        finally:
            connections.close_all()  # this thread's connections, opened by the generator
            put(_DONE)

    threading.Thread(target=run, name="docent-stream", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def ask_event_payload(event: AskEvent) -> tuple[str, dict[str, Any]]:
    """The wire form of an answering event, shared by the web UI and the API."""
    if isinstance(event, AskStarted):
        return "start", {
            "conversation_id": event.conversation.pk,
            "question_id": event.question.pk,
            "strategy": event.conversation.strategy,
        }
    if isinstance(event, TextDelta):
        return "delta", {"text": event.text}
    if isinstance(event, CitationFound):
        return "citation", event.citation.as_dict()
    if isinstance(event, AskCompleted):
        return "done", message_payload(event.message)
    if isinstance(event, AskFailed):
        return "error", {
            **message_payload(event.message),
            "message": event.message.error,
            "retryable": event.retryable,
            "code": event.code,
        }
    raise TypeError(f"unknown event {event!r}")


def message_payload(message: Any) -> dict[str, Any]:
    return {
        "message_id": message.pk,
        "conversation_id": message.conversation_id,
        "answer": message.content,
        "citations": message.citations,
        "strategy": message.strategy,
        "status": message.status,
        "notice": message.notice,
        "grounded": message.grounded,
        "usage": message.usage,
        "latency_ms": message.latency_ms,
        "first_token_ms": message.first_token_ms,
    }

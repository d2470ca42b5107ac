"""Streaming answers to async views (web UI and API) as Server-Sent Events.

Answering is synchronous code (ORM, SDK streams). Under ASGI a synchronous iterator would be
buffered whole before the first byte is sent, so each stream runs its generator in a thread of
its own and hands the events to the event loop through a queue.

When the client goes away (a reload, another page, a dropped connection), Django cancels the
response but the thread carries on to the end of the answer, which is stored as it grows
(chat.services.message_ask); `follow_answer` streams it again to whoever comes back, from any
web process. Only `message_stop` stops an answer. The events go straight from the generating
thread to the response, not through the database or the broker, so the first token is not
delayed (the database is written at most every LIVE_WRITE_SECONDS).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from django.db import connections

from chat.models import Message, MessageStatus
from chat.selectors import answer_is_live
from chat.services import AskCompleted, AskEvent, AskFailed, AskStarted, AskStopped
from chat.strategies.base import CitationFound, TextDelta

logger = logging.getLogger(__name__)

T = TypeVar("T")
_DONE = object()


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


async def iterate_in_thread(make_iterator: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Yield the items of a synchronous iterator that runs in its own thread, to its end even
    if the consumer stops early."""
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
                    # Nobody listening any more: finish the work all the same.
                    if not stop.is_set():
                        put(item)
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        except BaseException as error:
            put(_Raised(error))
        finally:
            connections.close_all()  # this thread's connections, opened by the generator
            put(_DONE)

    # The request's context (its request id, for the log lines the answer writes) goes along.
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(run,), name="docent-stream", daemon=True).start()
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
            "message_id": event.answer.pk if event.answer else None,
            "strategy": event.conversation.strategy,
        }
    if isinstance(event, TextDelta):
        return "delta", {"text": event.text}
    if isinstance(event, CitationFound):
        return "citation", event.citation.as_dict()
    if isinstance(event, AskCompleted):
        return "done", message_payload(event.message)
    if isinstance(event, AskStopped):
        return "stopped", message_payload(event.message)
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


# How often a follower reads an answer that another thread (maybe another process) writes.
FOLLOW_POLL_SECONDS = 0.2


async def follow_answer(
    message_id: int, *, poll: float = FOLLOW_POLL_SECONDS
) -> AsyncIterator[Message]:
    """The stored answer each time it changed while it is written (read from the database, so
    the writer may be any web process), last as it ended: complete, failed, stopped, or still
    "streaming" when its writer is gone. Nothing if the message does not exist."""
    seen: tuple[str, int, int] | None = None
    while True:
        message = await Message.objects.filter(pk=message_id).afirst()
        if message is None:
            return
        state = (message.status, len(message.content), len(message.citations))
        live = answer_is_live(message)
        if state != seen or not live:
            seen = state
            yield message
        if not live:
            return
        await asyncio.sleep(poll)


async def follow_answer_events(
    message_id: int, *, offset: int = 0, poll: float = FOLLOW_POLL_SECONDS
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """`follow_answer` in the events of a live answer, for the API: `delta` with the text after
    the first `offset` characters, each `citation` once, then `done`, `error` or `stopped`
    (an answer whose writer is gone is an `error` with code "interrupted")."""
    sent_text = offset
    sent_citations = 0
    async for message in follow_answer(message_id, poll=poll):
        if message.status == MessageStatus.STREAMING and len(message.content) > sent_text:
            yield "delta", {"text": message.content[sent_text:]}
            sent_text = len(message.content)
        for citation in message.citations[sent_citations:]:
            yield "citation", citation
        sent_citations = len(message.citations)
        if message.status == MessageStatus.COMPLETE:
            yield "done", message_payload(message)
        elif message.status == MessageStatus.STOPPED:
            yield "stopped", message_payload(message)
        elif message.status == MessageStatus.ERROR:
            yield (
                "error",
                {
                    **message_payload(message),
                    "message": message.error,
                    "retryable": True,
                    "code": "failed",
                },
            )
        elif not answer_is_live(message):
            yield (
                "error",
                {
                    **message_payload(message),
                    "message": INTERRUPTED,
                    "retryable": True,
                    "code": "interrupted",
                },
            )


INTERRUPTED = "The answer was cut off on the server before it finished. Ask again."

"""Answers over Server-Sent Events: ask, answer again, edit the last question, stop, and
follow an answer that is being written (after a reload, from any web process)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.shortcuts import aget_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from chat import services
from chat.forms import AskForm
from chat.fragments import (
    answer_html,
    answer_urls,
    conversation_item_html,
    failed_note_html,
    question_html,
    source_html,
)
from chat.models import Conversation, Message, MessageRole, MessageStatus
from chat.rendering import render_answer
from chat.selectors import answer_is_live
from chat.services import AskCompleted, AskEvent, AskFailed, AskStarted, AskStopped
from chat.strategies.base import CitationFound, TextDelta
from chat.streaming import ask_event_payload, follow_answer, iterate_in_thread, sse
from chat.views.pages import conversation_url
from documents.models import Corpus

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# Rendered HTML of the answer so far is sent at most this often (seconds).
HTML_INTERVAL = 0.15
STREAM_FAILED = (
    "Something went wrong while answering. Try again; if it keeps happening, tell an administrator."
)


@login_required
@require_POST
async def ask(
    request: HttpRequest, slug: str, conversation_id: int | None = None
) -> HttpResponseBase:
    """Stream the answer as Server-Sent Events (see chat/streaming.py for the shared events)."""
    user = cast("User", await request.auser())
    corpus = await aget_object_or_404(Corpus.objects.for_user(user), slug=slug)
    conversation = None
    if conversation_id is not None:
        conversation = await aget_object_or_404(
            Conversation.objects.for_user(user).filter(corpus=corpus).select_related("corpus"),
            pk=conversation_id,
        )
    form = AskForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"error": form.first_error()}, status=400)
    question = form.cleaned_data["question"]

    def events() -> Iterator[AskEvent]:
        return services.conversation_ask(
            corpus=corpus, user=user, question=question, conversation=conversation
        )

    return _event_response(request, events, corpus=corpus)


@login_required
@require_POST
async def answer_regenerate(request: HttpRequest, slug: str, message_id: int) -> HttpResponseBase:
    """Answer the last question again (Regenerate, or Retry after a failure or a Stop)."""
    user = cast("User", await request.auser())
    corpus, message = await _message_for(user, slug, message_id, MessageRole.ASSISTANT)
    return await _checked_event_response(
        request, services.message_regenerate(answer=message), corpus=corpus
    )


@login_required
@require_POST
async def question_edit(request: HttpRequest, slug: str, message_id: int) -> HttpResponseBase:
    """Replace the last question with the edited text and answer it."""
    user = cast("User", await request.auser())
    corpus, message = await _message_for(user, slug, message_id, MessageRole.USER)
    form = AskForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"error": form.first_error()}, status=400)
    events = services.message_edit(question=message, text=form.cleaned_data["question"])
    return await _checked_event_response(request, events, corpus=corpus)


@login_required
@require_POST
async def answer_stop(request: HttpRequest, slug: str, message_id: int) -> HttpResponseBase:
    """Stop an answer, whichever web process is writing it."""
    user = cast("User", await request.auser())
    _, message = await _message_for(user, slug, message_id, MessageRole.ASSISTANT)
    stopped = await sync_to_async(services.message_stop)(answer=message)
    return JsonResponse({"stopped": stopped})


@login_required
@require_GET
async def answer_follow(request: HttpRequest, slug: str, message_id: int) -> HttpResponseBase:
    """The answer being written, as it grows (`html`, `citation`), then `done`, `error` or
    `stopped` with the stored answer: what a page shows after a reload or a dropped
    connection. GET, so the browser's EventSource can reconnect by itself."""
    user = cast("User", await request.auser())
    corpus, message = await _message_for(user, slug, message_id, MessageRole.ASSISTANT)
    response = StreamingHttpResponse(
        _follow_stream(request, message.pk, corpus=corpus), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


# --- helpers ------------------------------------------------------------------------------------


async def _message_for(
    user: User, slug: str, message_id: int, role: MessageRole
) -> tuple[Corpus, Message]:
    corpus = await aget_object_or_404(Corpus.objects.for_user(user), slug=slug)
    message = await aget_object_or_404(
        Message.objects.filter(
            conversation__in=Conversation.objects.for_user(user).filter(corpus=corpus), role=role
        ).select_related("conversation", "conversation__corpus"),
        pk=message_id,
    )
    return corpus, message


def _prepend(first: AskEvent, rest: Iterator[AskEvent]) -> Iterator[AskEvent]:
    yield first
    yield from rest


async def _checked_event_response(
    request: HttpRequest, events: Iterator[AskEvent], *, corpus: Corpus
) -> HttpResponseBase:
    """Run the service to its first event before the stream starts, so that a refusal (its
    ValidationError: not the latest answer, still being written...) is a 400 with the reason,
    not an error event inside a 200 stream."""
    try:
        first = await sync_to_async(next)(events)
    except ValidationError as error:
        return JsonResponse({"error": _first_message(error)}, status=400)
    return _event_response(request, lambda: _prepend(first, events), corpus=corpus)


def _event_response(
    request: HttpRequest, make_events: Callable[[], Iterator[AskEvent]], *, corpus: Corpus
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        _answer_stream(request, make_events, corpus=corpus), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events on as they come
    return response


async def _answer_stream(
    request: HttpRequest, make_events: Callable[[], Iterator[AskEvent]], *, corpus: Corpus
) -> AsyncIterator[str]:
    """The shared answering events, plus what the page shows of them rendered here with the
    page's own partials: `html` events with the answer so far (at most every HTML_INTERVAL
    seconds), the question, the sidebar item and the answer's URLs on `start`, each source on
    `citation`, and the whole answer (or the failure note) on `done`, `error` and `stopped`.

    If the client goes away the answer is still written to its end (chat.streaming)."""
    loop = asyncio.get_running_loop()
    events = aiter(iterate_in_thread(make_events))
    text = ""
    rendered_text = ""
    citations: list[dict[str, Any]] = []
    last_render = 0.0
    pending: asyncio.Task[AskEvent | None] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.create_task(_next(events))
            timeout = None
            if text != rendered_text:
                timeout = max(0.0, last_render + HTML_INTERVAL - loop.time())
            done, _ = await asyncio.wait({pending}, timeout=timeout)
            if not done:
                rendered_text, last_render = text, loop.time()
                html = render_answer(text, citations=citations, corpus_slug=corpus.slug)
                yield sse("html", {"html": str(html)})
                continue
            task, pending = pending, None
            event = task.result()
            if event is None:
                return
            name, data = ask_event_payload(event)
            if isinstance(event, AskStarted):
                data.update(await sync_to_async(_start_data)(event, corpus))
            elif isinstance(event, TextDelta):
                text += event.text
            elif isinstance(event, CitationFound):
                citations.append(data)
                data = {
                    **data,
                    "source_html": await sync_to_async(source_html)(citation=data, corpus=corpus),
                }
            elif isinstance(event, AskCompleted | AskFailed | AskStopped):
                text = rendered_text = event.message.content
                data.update(await sync_to_async(_end_data)(request, event.message, corpus))
            yield sse(name, data)
    except ValidationError as error:
        message = _first_message(error)
        yield sse(
            "error",
            {
                "message": message,
                "retryable": False,
                "code": "invalid",
                "note_html": failed_note_html(message=message),
            },
        )
    except Exception:
        logger.exception("corpus %s: the answer stream failed", corpus.pk)
        yield sse(
            "error",
            {
                "message": STREAM_FAILED,
                "retryable": True,
                "code": "internal",
                "note_html": failed_note_html(message=STREAM_FAILED),
            },
        )
    finally:
        if pending is not None:
            pending.cancel()


async def _follow_stream(
    request: HttpRequest, message_id: int, *, corpus: Corpus
) -> AsyncIterator[str]:
    sent_citations = 0
    try:
        async for message in follow_answer(message_id):
            for citation in message.citations[sent_citations:]:
                html = await sync_to_async(source_html)(citation=citation, corpus=corpus)
                yield sse("citation", {**citation, "source_html": html})
            sent_citations = len(message.citations)
            if message.status == MessageStatus.STREAMING and answer_is_live(message):
                if not message.content:
                    continue
                html = render_answer(
                    message.content, citations=message.citations, corpus_slug=corpus.slug
                )
                yield sse("html", {"html": str(html), "message_id": message.pk})
                continue
            name = {
                MessageStatus.COMPLETE: "done",
                MessageStatus.STOPPED: "stopped",
            }.get(MessageStatus(message.status), "error")
            data: dict[str, Any] = {
                "message_id": message.pk,
                "status": message.status,
                "message": message.error,
            }
            data.update(await sync_to_async(_end_data)(request, message, corpus))
            yield sse(name, data)
    except Exception:
        logger.exception("corpus %s: following answer %s failed", corpus.pk, message_id)
        yield sse(
            "error",
            {
                "message": STREAM_FAILED,
                "retryable": True,
                "code": "internal",
                "note_html": failed_note_html(message=STREAM_FAILED),
            },
        )


def _start_data(event: AskStarted, corpus: Corpus) -> dict[str, Any]:
    conversation = event.conversation
    data: dict[str, Any] = {
        "conversation_url": conversation_url(conversation),
        "ask_url": reverse(
            "chat:ask", kwargs={"slug": corpus.slug, "conversation_id": conversation.pk}
        ),
        "title": str(conversation),
        "question_html": question_html(question=event.question, corpus=corpus, editable=True),
        "conversation_html": conversation_item_html(
            conversation=conversation, corpus=corpus, title=str(conversation)
        ),
    }
    if event.answer is not None:
        data.update(answer_urls(corpus=corpus, message_id=event.answer.pk))
    return data


def _end_data(request: HttpRequest, message: Message, corpus: Corpus) -> dict[str, Any]:
    return {
        "html": str(
            render_answer(message.content, citations=message.citations, corpus_slug=corpus.slug)
        ),
        "message_html": answer_html(request=request, message=message, corpus=corpus, latest=True),
        "title": _conversation_title(message.conversation_id),
    }


async def _next(events: AsyncIterator[AskEvent]) -> AskEvent | None:
    # None at the end: a task must not raise StopAsyncIteration.
    return await anext(events, None)


def _conversation_title(conversation_id: int) -> str:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    return str(conversation) if conversation else ""


def _first_message(error: ValidationError) -> str:
    return next(iter(error.messages), "That did not work; check what you entered.")

"""The staff web UI for chatting: home, conversations, the streamed answer, feedback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import aget_object_or_404, get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat import services
from chat.forms import AskForm
from chat.fragments import (
    answer_html,
    conversation_item_html,
    failed_note_html,
    message_views,
    question_html,
    source_html,
)
from chat.models import Conversation, Message, MessageRole
from chat.rendering import render_answer, shorten
from chat.services import AskCompleted, AskEvent, AskFailed, AskStarted
from chat.strategies.base import CitationFound, TextDelta
from chat.streaming import ask_event_payload, iterate_in_thread, sse
from documents.models import Corpus, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    class AuthenticatedRequest(HttpRequest):
        user: User

else:
    AuthenticatedRequest = HttpRequest

logger = logging.getLogger(__name__)

# Rendered HTML of the answer so far is sent at most this often (seconds).
HTML_INTERVAL = 0.15
CONVERSATIONS_IN_SIDEBAR = 100
STREAM_FAILED = (
    "Something went wrong while answering. Try again; if it keeps happening, tell an administrator."
)


@login_required
@require_GET
def home(request: AuthenticatedRequest) -> HttpResponse:
    corpora = Corpus.objects.for_user(request.user).with_document_counts()
    return render(request, "chat/home.html", {"corpora": corpora})


@login_required
@require_GET
def conversation_new(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    corpus = get_object_or_404(Corpus.objects.for_user(request.user), slug=slug)
    return render(request, "chat/chat.html", _chat_context(request, corpus, None))


@login_required
@require_GET
def conversation_detail(
    request: AuthenticatedRequest, slug: str, conversation_id: int
) -> HttpResponse:
    corpus = get_object_or_404(Corpus.objects.for_user(request.user), slug=slug)
    conversation = get_object_or_404(
        Conversation.objects.for_user(request.user).filter(corpus=corpus), pk=conversation_id
    )
    return render(request, "chat/chat.html", _chat_context(request, corpus, conversation))


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
            corpus=corpus,
            user=user,
            question=question,
            conversation=conversation,
        )

    response = StreamingHttpResponse(
        _answer_stream(request, events, corpus=corpus), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events on as they come
    return response


@login_required
@require_http_methods(["GET", "POST"])
def conversation_rename(
    request: AuthenticatedRequest, slug: str, conversation_id: int
) -> HttpResponseBase:
    corpus = get_object_or_404(Corpus.objects.for_user(request.user), slug=slug)
    conversation = get_object_or_404(
        Conversation.objects.for_user(request.user).filter(corpus=corpus), pk=conversation_id
    )
    if request.method == "GET":
        return redirect(conversation_url(conversation))
    try:
        services.conversation_rename(conversation=conversation, title=request.POST.get("title", ""))
    except ValidationError as error:
        if _wants_json(request):
            return JsonResponse({"error": _first_message(error)}, status=400)
        messages.error(request, _first_message(error))
    else:
        if _wants_json(request):
            return JsonResponse({"title": conversation.title})
    return redirect(conversation_url(conversation))


@login_required
@require_http_methods(["GET", "POST"])
def conversation_delete(
    request: AuthenticatedRequest, slug: str, conversation_id: int
) -> HttpResponseBase:
    corpus = get_object_or_404(Corpus.objects.for_user(request.user), slug=slug)
    conversation = get_object_or_404(
        Conversation.objects.for_user(request.user).filter(corpus=corpus), pk=conversation_id
    )
    if request.method == "GET":
        return render(
            request,
            "chat/conversation_confirm_delete.html",
            {"corpus": corpus, "conversation": conversation},
        )
    services.conversation_delete(conversation=conversation)
    messages.success(request, f"Deleted the conversation “{conversation}”.")
    return redirect("chat:new", slug=corpus.slug)


@login_required
@require_POST
def message_feedback(request: AuthenticatedRequest, slug: str, message_id: int) -> HttpResponseBase:
    corpus = get_object_or_404(Corpus.objects.for_user(request.user), slug=slug)
    message = get_object_or_404(
        Message.objects.filter(
            conversation__in=Conversation.objects.for_user(request.user).filter(corpus=corpus),
            role=MessageRole.ASSISTANT,
        ).select_related("conversation"),
        pk=message_id,
    )
    try:
        feedback = services.message_feedback(
            message=message,
            user=request.user,
            rating=request.POST.get("rating", ""),
            comment=request.POST.get("comment", ""),
        )
    except ValidationError as error:
        if _wants_json(request):
            return JsonResponse({"error": _first_message(error)}, status=400)
        messages.error(request, _first_message(error))
        return redirect(conversation_url(message.conversation))
    thanks = "Thanks, your comment was saved." if feedback.comment else "Thanks for your feedback."
    if _wants_json(request):
        return JsonResponse(
            {"rating": feedback.rating, "comment": feedback.comment, "message": thanks}
        )
    messages.success(request, thanks)
    return redirect(f"{conversation_url(message.conversation)}#message-{message.pk}")


# --- helpers ------------------------------------------------------------------------------------


def conversation_url(conversation: Conversation) -> str:
    return reverse(
        "chat:conversation",
        kwargs={"slug": conversation.corpus.slug, "conversation_id": conversation.pk},
    )


def _chat_context(
    request: AuthenticatedRequest, corpus: Corpus, conversation: Conversation | None
) -> dict[str, Any]:
    turns = (
        services.conversation_messages(conversation=conversation, user=request.user)
        if conversation
        else []
    )
    return {
        "section": "chat",
        "corpus": corpus,
        "counts": Corpus.objects.for_user(request.user).with_document_counts().get(pk=corpus.pk),
        "conversation": conversation,
        "conversations": Conversation.objects.for_user(request.user).filter(corpus=corpus)[
            :CONVERSATIONS_IN_SIDEBAR
        ],
        "turns": message_views(turns, corpus=corpus),
        "can_contribute": Corpus.objects.for_user(request.user, Role.CONTRIBUTOR)
        .filter(pk=corpus.pk)
        .exists(),
        "ask_url": (
            reverse("chat:ask", kwargs={"slug": corpus.slug, "conversation_id": conversation.pk})
            if conversation
            else reverse("chat:ask_new", kwargs={"slug": corpus.slug})
        ),
    }


async def _answer_stream(
    request: HttpRequest, make_events: Callable[[], Iterator[AskEvent]], *, corpus: Corpus
) -> AsyncIterator[str]:
    """The shared answering events, plus what the page shows of them rendered here with the
    page's own partials: `html` events with the answer so far (at most every HTML_INTERVAL
    seconds), the question and the sidebar item on `start`, each source on `citation`, and the
    whole answer (or the failure note) on `done` and `error`."""
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
                data["conversation_url"] = conversation_url(event.conversation)
                data["ask_url"] = reverse(
                    "chat:ask",
                    kwargs={"slug": corpus.slug, "conversation_id": event.conversation.pk},
                )
                # Until the first answer names it, a new conversation goes by its question.
                data["title"] = event.conversation.title or shorten(event.question.content, 80)
                data["question_html"] = question_html(question=event.question)
                data["conversation_html"] = conversation_item_html(
                    conversation=event.conversation, corpus=corpus, title=data["title"]
                )
            elif isinstance(event, TextDelta):
                text += event.text
            elif isinstance(event, CitationFound):
                citations.append(data)
                data = {
                    **data,
                    "source_html": await sync_to_async(source_html)(citation=data, corpus=corpus),
                }
            elif isinstance(event, AskCompleted | AskFailed):
                text = rendered_text = event.message.content
                data["html"] = str(
                    render_answer(text, citations=event.message.citations, corpus_slug=corpus.slug)
                )
                data["message_html"] = await sync_to_async(answer_html)(
                    request=request, message=event.message, corpus=corpus
                )
                if isinstance(event, AskCompleted):
                    data["title"] = await sync_to_async(_conversation_title)(
                        event.message.conversation_id
                    )
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


async def _next(events: AsyncIterator[AskEvent]) -> AskEvent | None:
    # None at the end: a task must not raise StopAsyncIteration.
    return await anext(events, None)


def _conversation_title(conversation_id: int) -> str:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    return str(conversation) if conversation else ""


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _first_message(error: ValidationError) -> str:
    return next(iter(error.messages), "That did not work; check what you entered.")

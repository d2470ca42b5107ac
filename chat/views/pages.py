"""The staff web UI for chatting: home, conversations, the streamed answer, feedback."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat import services
from chat.fragments import conversation_item_html, message_views
from chat.models import Conversation, Message, MessageRole
from documents.models import Corpus, Role
from documents.parsing import supported_formats_text, upload_accept

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
    corpora = list(Corpus.objects.for_user(request.user).with_document_counts())
    contributing = set(
        Corpus.objects.for_user(request.user, Role.CONTRIBUTOR).values_list("pk", flat=True)
    )
    for corpus in corpora:
        corpus.can_contribute = corpus.pk in contributing  # type: ignore[attr-defined]
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
@require_GET
def conversation_search(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    """The sidebar's conversations matching `q` (title, questions and answers): the list alone
    for the page's script, else the chat page with the sidebar filtered."""
    corpus = get_object_or_404(Corpus.objects.for_user(request.user), slug=slug)
    query = " ".join(request.GET.get("q", "").split())[:200]
    if request.GET.get("partial") == "list":
        context = {
            "corpus": corpus,
            "query": query,
            "conversations": _sidebar_conversations(request, corpus, query),
        }
        return render(request, "chat/_conversation_list.html", context)
    return render(request, "chat/chat.html", _chat_context(request, corpus, None, query=query))


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
            # The sidebar entry as the template draws it, so its buttons name the new title
            # in the template's own words; the page marks it as shown where it is.
            item = conversation_item_html(
                conversation=conversation, corpus=corpus, title=conversation.title, shown=False
            )
            return JsonResponse({"title": conversation.title, "item_html": item})
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


def _sidebar_conversations(
    request: AuthenticatedRequest, corpus: Corpus, query: str = ""
) -> list[Conversation]:
    conversations = Conversation.objects.for_user(request.user).filter(corpus=corpus)
    if query:
        conversations = conversations.matching(query)
    return list(conversations[:CONVERSATIONS_IN_SIDEBAR])


def _chat_context(
    request: AuthenticatedRequest,
    corpus: Corpus,
    conversation: Conversation | None,
    *,
    query: str = "",
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
        "conversations": _sidebar_conversations(request, corpus, query),
        "query": query,
        "max_question_chars": settings.CHAT_MAX_QUESTION_CHARS,
        "turns": message_views(turns, corpus=corpus),
        "can_contribute": Corpus.objects.for_user(request.user, Role.CONTRIBUTOR)
        .filter(pk=corpus.pk)
        .exists(),
        # The chat box uploads through the documents page's endpoints (documents/views.py).
        "upload_accept": upload_accept(),
        "upload_formats": supported_formats_text(detailed=False),
        "max_upload_bytes": settings.DOCUMENT_MAX_UPLOAD_BYTES,
        "ask_url": (
            reverse("chat:ask", kwargs={"slug": corpus.slug, "conversation_id": conversation.pk})
            if conversation
            else reverse("chat:ask_new", kwargs={"slug": corpus.slug})
        ),
    }


def _conversation_title(conversation_id: int) -> str:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    return str(conversation) if conversation else ""


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _first_message(error: ValidationError) -> str:
    return next(iter(error.messages), "That did not work; check what you entered.")

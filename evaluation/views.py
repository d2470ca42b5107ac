"""The asker's "why these sources" panel: what the answer was given and quoted, and how it was
found. A fragment for the chat page to load next to an answer, or a page of its own."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from chat.models import Conversation, Message, MessageRole
from evaluation.models import AnswerProvenance, PassageRole


@require_GET
@login_required
def why_sources(request: HttpRequest, message_id: int) -> HttpResponse:
    """Only the person who asked sees it (others get a 404, as for the conversation)."""
    message = get_object_or_404(
        Message.objects.select_related("conversation__corpus"),
        pk=message_id,
        role=MessageRole.ASSISTANT,
        conversation__in=Conversation.objects.for_user(request.user),
    )
    record = AnswerProvenance.objects.filter(message=message).prefetch_related("passages").first()
    if record is None:
        raise Http404("No sources were recorded for this answer.")
    passages = list(record.passages.all())
    context = {
        "message": message,
        "record": record,
        "context_passages": [p for p in passages if p.role == PassageRole.CONTEXT],
        "cited": [p for p in passages if p.role == PassageRole.CITED],
        "retrieval": record.settings.get("retrieval", {}),
    }
    fragment = request.headers.get("HX-Request") == "true" or request.GET.get("fragment") == "1"
    template = "evaluation/_why_sources.html" if fragment else "evaluation/why_sources.html"
    return render(request, template, context)

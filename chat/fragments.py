"""The chat page's pieces as HTML, rendered from the page's own partials both when the page
loads and while an answer streams: chat.js inserts the streamed ones as they are, so no markup
(or wording, or the quote limit) is kept twice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string

from chat.models import Conversation, Feedback, Message, MessageRole
from chat.rendering import Source, render_answer, sources
from documents.models import Corpus, Page


@dataclass(frozen=True)
class MessageView:
    """A stored message as the chat page shows it."""

    message: Message
    html: str = ""  # answers: sanitised HTML
    sources: list[Source] = field(default_factory=list)
    feedback: Feedback | None = None  # the current user's

    @property
    def is_answer(self) -> bool:
        return self.message.role == MessageRole.ASSISTANT


def message_views(messages: list[Message], *, corpus: Corpus) -> list[MessageView]:
    labels = Page.objects.labels_for(
        pages=[page for message in messages for page in _cited_pages(message.citations)]
    )
    views = []
    for message in messages:
        if message.role != MessageRole.ASSISTANT:
            views.append(MessageView(message=message))
            continue
        feedback = getattr(message, "my_feedback", [])
        views.append(
            MessageView(
                message=message,
                html=render_answer(
                    message.content, citations=message.citations, corpus_slug=corpus.slug
                ),
                sources=sources(message.citations, corpus_slug=corpus.slug, page_labels=labels),
                feedback=feedback[0] if feedback else None,
            )
        )
    return views


def answer_html(*, request: HttpRequest, message: Message, corpus: Corpus) -> str:
    """A stored answer with its sources, notes and feedback form (which needs the request's
    CSRF token)."""
    (view,) = message_views([message], corpus=corpus)
    return render_to_string("chat/_answer.html", {"turn": view, "corpus": corpus}, request=request)


def question_html(*, question: Message) -> str:
    return render_to_string("chat/_question.html", {"turn": MessageView(message=question)})


def conversation_item_html(*, conversation: Conversation, corpus: Corpus, title: str) -> str:
    """The sidebar's entry for the conversation being shown."""
    return render_to_string(
        "chat/_conversation_item.html",
        {"corpus": corpus, "conversation": conversation, "item": conversation, "item_title": title},
    )


def source_html(*, citation: Mapping[str, Any], corpus: Corpus) -> str:
    """One entry of an answer's sources list ("" for a citation without a number)."""
    labels = Page.objects.labels_for(_cited_pages([citation]))
    return "".join(
        render_to_string("chat/_source.html", {"source": source})
        for source in sources([citation], corpus_slug=corpus.slug, page_labels=labels)
    )


def failed_note_html(*, message: str) -> str:
    return render_to_string("chat/_answer_status.html", {"status": "error", "error": message})


def _cited_pages(citations: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    return [
        (citation["document_id"], citation["page"])
        for citation in citations
        if isinstance(citation.get("document_id"), int) and isinstance(citation.get("page"), int)
    ]

"""The chat page's pieces as HTML, rendered from the page's own partials both when the page
loads and while an answer streams: chat.js inserts the streamed ones as they are, so no markup
(or wording, or the quote limit) is kept twice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse

from chat.models import Conversation, Feedback, Message, MessageRole
from chat.rendering import Source, render_answer, sources
from chat.selectors import answer_is_live, messages_shown
from documents.models import Corpus, Page


@dataclass(frozen=True)
class MessageView:
    """A stored message as the chat page shows it."""

    message: Message
    html: str = ""  # answers: sanitised HTML
    sources: list[Source] = field(default_factory=list)
    feedback: Feedback | None = None  # the current user's
    live: bool = False  # an answer still being written (the page follows it)
    latest: bool = False  # the last question or answer: it can be edited or answered again
    earlier: list[MessageView] = field(default_factory=list)  # versions it replaced
    earlier_answer: MessageView | None = None  # an earlier question's answer
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def is_answer(self) -> bool:
        return self.message.role == MessageRole.ASSISTANT


def message_views(messages: list[Message], *, corpus: Corpus) -> list[MessageView]:
    """The current line of the conversation; replaced versions hang under what replaced them."""
    everything = list(messages)
    labels = Page.objects.labels_for(
        pages=[page for message in everything for page in _cited_pages(message.citations)]
    )
    shown = messages_shown(everything)
    last_question = max(
        (item.message.pk for item in shown if item.message.role == MessageRole.USER), default=None
    )
    last_answer = shown[-1].message.pk if shown and shown[-1].message.role != "user" else None
    views = []
    for item in shown:
        message = item.message
        latest = message.pk in (last_question, last_answer)
        if message.role == MessageRole.USER:
            earlier = [
                MessageView(
                    message=old,
                    earlier_answer=(
                        _answer_view(item.earlier_answers[old.pk], corpus, labels)
                        if old.pk in item.earlier_answers
                        else None
                    ),
                )
                for old in item.earlier
            ]
            views.append(
                MessageView(
                    message=message,
                    latest=latest,
                    earlier=earlier,
                    urls=question_urls(corpus=corpus, message_id=message.pk),
                )
            )
        else:
            view = _answer_view(message, corpus, labels, latest=latest)
            view.earlier.extend(_answer_view(old, corpus, labels) for old in item.earlier)
            views.append(view)
    return views


def answer_urls(*, corpus: Corpus, message_id: int) -> dict[str, str]:
    """Where the page follows, stops and regenerates one answer."""
    kwargs = {"slug": corpus.slug, "message_id": message_id}
    return {
        "follow_url": reverse("chat:answer_follow", kwargs=kwargs),
        "stop_url": reverse("chat:answer_stop", kwargs=kwargs),
        "regenerate_url": reverse("chat:answer_regenerate", kwargs=kwargs),
    }


def question_urls(*, corpus: Corpus, message_id: int) -> dict[str, str]:
    return {
        "edit_url": reverse(
            "chat:question_edit", kwargs={"slug": corpus.slug, "message_id": message_id}
        )
    }


def _answer_view(
    message: Message,
    corpus: Corpus,
    labels: Mapping[tuple[int, int], str],
    *,
    latest: bool = False,
) -> MessageView:
    feedback = getattr(message, "my_feedback", [])
    return MessageView(
        message=message,
        html=render_answer(
            message.content,
            citations=message.citations,
            corpus_slug=corpus.slug,
            page_labels=labels,
        ),
        sources=sources(message.citations, corpus_slug=corpus.slug, page_labels=labels),
        feedback=feedback[0] if feedback else None,
        live=answer_is_live(message),
        latest=latest,
        urls=answer_urls(corpus=corpus, message_id=message.pk),
    )


def answer_html(
    *, request: HttpRequest, message: Message, corpus: Corpus, latest: bool = True
) -> str:
    """A stored answer with its sources, notes, actions and feedback form (which needs the
    request's CSRF token), with the earlier answers it replaced."""
    labels = Page.objects.labels_for(pages=_cited_pages(message.citations))
    view = _answer_view(message, corpus, labels, latest=latest)
    if message.replaces_id:
        everything = list(message.conversation.messages.all())
        for item in messages_shown(everything):
            if item.message.pk == message.pk:
                view.earlier.extend(_answer_view(old, corpus, labels) for old in item.earlier)
    return render_to_string("chat/_answer.html", {"turn": view, "corpus": corpus}, request=request)


def question_html(*, question: Message, corpus: Corpus, editable: bool = False) -> str:
    view = MessageView(
        message=question,
        latest=editable,
        urls=question_urls(corpus=corpus, message_id=question.pk),
    )
    return render_to_string("chat/_question.html", {"turn": view, "corpus": corpus})


def conversation_item_html(
    *, conversation: Conversation, corpus: Corpus, title: str, shown: bool = True
) -> str:
    """The sidebar's entry for a conversation, marked as the page's own where it is `shown`."""
    return render_to_string(
        "chat/_conversation_item.html",
        {
            "corpus": corpus,
            "conversation": conversation if shown else None,
            "item": conversation,
            "item_title": title,
        },
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

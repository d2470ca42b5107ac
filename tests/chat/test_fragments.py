"""The pieces of the chat page that chat.js inserts while an answer streams come from the same
partials as the page, escaped by Django's templates."""

from __future__ import annotations

import pytest

from chat import services
from chat.fragments import (
    answer_html,
    conversation_item_html,
    failed_note_html,
    message_views,
    question_html,
    source_html,
)
from chat.models import Message, MessageRole
from chat.rendering import QUOTE_CHARS

pytestmark = pytest.mark.django_db


def citation(meals, **changes):
    return {
        "number": 1,
        "document_id": meals.pk,
        "document": "meals.md",
        "page": 1,
        "page_end": 1,
        "quote": "Meal expenses are reimbursed up to 45 euros per day.",
        "char_start": 10,
        "char_end": 60,
        **changes,
    }


def test_a_source_links_to_the_highlighted_passage(corpus, meals):
    html = source_html(citation=citation(meals), corpus=corpus)
    assert html.startswith('<li value="1" data-source="1">')
    assert 'data-copy="quote"' in html
    url = f"/c/policies/documents/{meals.pk}/?page=1&amp;start=10&amp;end=60#passage"
    assert f'<a href="{url}">' in html
    assert '<span class="source-document">meals.md</span>' in html
    assert '<span class="source-where">, page 1</span>' in html
    assert '<q class="source-quote">Meal expenses are reimbursed' in html


def test_a_long_quote_is_cut_at_the_limit(corpus, meals):
    html = source_html(citation=citation(meals, quote="word " * 200), corpus=corpus)
    quote = html.split('<q class="source-quote">')[1].split("</q>")[0]
    assert len(quote) <= QUOTE_CHARS
    assert quote.endswith("…")


def test_a_source_uses_the_page_label(corpus, meals):
    meals.pages.filter(number=1).update(label="Slide 1")
    assert ", Slide 1</span>" in source_html(citation=citation(meals), corpus=corpus)


def test_a_citation_without_a_number_has_no_entry(corpus, meals):
    assert source_html(citation=citation(meals, number=None), corpus=corpus) == ""


def test_document_names_and_quotes_are_escaped(corpus, meals):
    html = source_html(
        citation=citation(meals, document="<b>x</b>.md", quote="<script>alert(1)</script>"),
        corpus=corpus,
    )
    assert "<script" not in html
    assert "&lt;b&gt;x&lt;/b&gt;.md" in html


def test_the_question_is_escaped_and_keeps_its_line_breaks(corpus, people):
    conversation = services.conversation_start(corpus=corpus, user=people.reader)
    question = Message.objects.create(
        conversation=conversation, role=MessageRole.USER, content="<i>Meals</i>\nabroad?"
    )
    html = question_html(question=question, corpus=corpus)
    assert f'id="message-{question.pk}"' in html
    assert "&lt;i&gt;Meals&lt;/i&gt;<br>abroad?" in html


def test_the_sidebar_item_is_current_and_titled_by_the_question(corpus, people):
    conversation = services.conversation_start(corpus=corpus, user=people.reader)
    html = conversation_item_html(
        conversation=conversation, corpus=corpus, title="<b>Meals</b> abroad?"
    )
    assert f'href="/c/policies/conversations/{conversation.pk}/" aria-current="page"' in html
    assert (
        '<span class="conversation-title" data-item-title>&lt;b&gt;Meals&lt;/b&gt; abroad?</span>'
        in html
    )
    # Rename and delete from the item itself, named after it for screen readers.
    assert 'aria-label="Rename “&lt;b&gt;Meals&lt;/b&gt; abroad?”"' in html
    assert f'href="/c/policies/conversations/{conversation.pk}/delete" data-confirm=' in html
    assert '<time class="conversation-when" datetime="' in html


def test_the_failure_note_is_the_pages_and_escapes_the_reason():
    html = failed_note_html(message="<script>x</script> Ask again.")
    assert 'class="answer-error" role="alert"' in html
    assert "<strong>No answer this time.</strong> &lt;script&gt;x&lt;/script&gt; Ask again." in html


def test_an_answer_stopped_while_searching_says_so_without_an_empty_body(corpus, people, rf):
    conversation = services.conversation_start(corpus=corpus, user=people.reader)
    question = Message.objects.create(conversation=conversation, role="user", content="Q?")
    stopped = Message.objects.create(
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        reply_to=question,
        status="stopped",
        content="",
    )
    request = rf.get("/")
    request.user = people.reader
    html = answer_html(request=request, message=stopped, corpus=corpus)
    assert "Stopped before the answer began. Retry to get one." in html
    assert "answer-body" not in html
    assert "Copy" not in html  # nothing to copy
    assert ">Retry<" in html


def test_a_spreadsheet_citation_is_spoken_as_the_sources_list_names_it(corpus, meals, people):
    meals.pages.filter(number=1).update(label="Sheet: Rates")
    conversation = services.conversation_start(corpus=corpus, user=people.reader)
    message = Message.objects.create(
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        content="Meals are paid [1].",
        citations=[citation(meals)],
    )
    (view,) = message_views([message], corpus=corpus)
    assert 'aria-label="Source 1: meals.md, Sheet: Rates"' in view.html
    assert ", Sheet: Rates</span>" in "".join(
        source_html(citation=c, corpus=corpus) for c in message.citations
    )

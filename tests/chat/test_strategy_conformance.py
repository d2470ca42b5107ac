"""One suite, every registered answer strategy: the contract of chat/strategies/base.py."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from chat import services
from chat.models import MessageStatus
from chat.strategies.base import (
    AnswerDone,
    AnswerRequest,
    CitationFound,
    PassagesFound,
    StrategyError,
    TextDelta,
    get_strategy,
)
from documents.models import Document
from tests.chat.conftest import STRATEGY_CASES

MARKER = re.compile(r"\[(\d+)\]")


def test_every_registered_strategy_has_a_conformance_case():
    assert {case.strategy for case in STRATEGY_CASES.values()} == set(settings.CHAT_STRATEGIES)


def ask(corpus, strategy, question, history=(), provider_state=None):
    request = AnswerRequest(
        corpus=corpus,
        question=question,
        history=tuple(history),
        provider_state=provider_state or {},
    )
    return list(get_strategy(strategy).answer(request))


def test_streams_text_then_exactly_one_final_event(case):
    strategy_case, corpus = case
    events = ask(corpus, strategy_case.strategy, "How much is the meal allowance abroad?")
    assert isinstance(events[-1], AnswerDone)
    assert sum(isinstance(e, AnswerDone) for e in events) == 1
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas, "the answer must stream"
    shown = [e for e in events if not isinstance(e, PassagesFound)]
    assert isinstance(shown[0], TextDelta | CitationFound)
    done = events[-1]
    streamed = MARKER.sub("", "".join(deltas)).split()
    assert MARKER.sub("", done.answer).split() == streamed
    assert "45" in done.answer


def test_citations_resolve_to_documents_the_corpus_holds(case):
    strategy_case, corpus = case
    done = ask(corpus, strategy_case.strategy, "How much is the meal allowance abroad?")[-1]
    assert done.citations
    documents = {d.pk: d for d in Document.objects.filter(corpus=corpus)}
    for citation in done.citations:
        document = documents[citation.document_id]
        assert citation.document == document.filename
        assert citation.quote.strip()
        assert citation.page is None or 1 <= citation.page <= document.page_count
    assert done.citations[0].document == "meals.md"
    assert done.citations[0].page == 1
    numbers = [c.number for c in done.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    assert {int(n) for n in MARKER.findall(done.answer)} == set(numbers)


def test_the_passages_given_are_reported_before_the_answer_is_written(case):
    """What was retrieved is known before the text, so a stopped or failed answer keeps it."""
    strategy_case, corpus = case
    events = ask(corpus, strategy_case.strategy, "How much is the meal allowance abroad?")
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    found = [e for e in events[:first_text] if isinstance(e, PassagesFound)]
    assert found, "no PassagesFound before the first text"
    done = events[-1]
    assert done.passages == found[-1].passages
    documents = dict(Document.objects.filter(corpus=corpus).values_list("pk", "filename"))
    for hit in done.passages:
        assert documents[hit.document_id] == hit.document
        assert hit.text.strip()
    meals = [hit for hit in done.passages if hit.document == "meals.md"]
    assert meals
    assert meals[0].page_start == 1
    assert "45 euros" in meals[0].text


def test_citation_events_match_the_final_citations(case):
    strategy_case, corpus = case
    events = ask(corpus, strategy_case.strategy, "When must meal receipts be uploaded?")
    streamed = [e.citation for e in events if isinstance(e, CitationFound)]
    assert tuple(streamed) == events[-1].citations


def test_follow_up_questions_use_the_history(case, django_user_model):
    strategy_case, corpus = case
    conversation = services.conversation_start(
        corpus=corpus, user=None, strategy=strategy_case.strategy
    )
    first = services.message_ask_collect(
        conversation=conversation, question="What is reimbursed for meals abroad?"
    )
    assert first.status == MessageStatus.COMPLETE, first.error
    follow_up = services.message_ask_collect(
        conversation=conversation, question="And how long do I have for those receipts?"
    )
    assert follow_up.status == MessageStatus.COMPLETE, follow_up.error
    # "those receipts" only means meal receipts (thirty days) through the first question;
    # on its own it would as well match the fuel receipts of cars.md.
    assert "thirty days" in follow_up.content
    assert follow_up.citations[0]["document"] == "meals.md"


def test_a_question_the_documents_do_not_answer_gets_no_invented_citation(case):
    strategy_case, corpus = case
    done = ask(corpus, strategy_case.strategy, "zzqx wibble frobnicate")[-1]
    documents = set(Document.objects.filter(corpus=corpus).values_list("pk", flat=True))
    assert all(c.document_id in documents for c in done.citations)
    assert done.grounded is False


def test_an_answered_question_is_grounded(case):
    strategy_case, corpus = case
    done = ask(corpus, strategy_case.strategy, "How much is the meal allowance abroad?")[-1]
    assert done.grounded is True


def test_provider_failures_surface_as_the_strategys_own_error(case, fake_openai):
    strategy_case, corpus = case
    if strategy_case.strategy == "manual_retrieval" and not get_strategy("manual_retrieval").model:
        # The extractive answer calls no provider; its failure is the search's.
        corpus.embedding_model = "missing-model"
        corpus.save()
    else:
        fake_openai.fail_next("POST", r".*", status=500, times=20)
    with pytest.raises(StrategyError) as error:
        ask(corpus, strategy_case.strategy, "How much is the meal allowance abroad?")
    assert str(error.value)
    assert "Traceback" not in str(error.value)

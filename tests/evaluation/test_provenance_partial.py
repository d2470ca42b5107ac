"""Provenance beyond completed local answers: File Search's retrieved passages (its
file_search results, through the openai SDK against the fake server), and answers that were
stopped or failed, which keep what they had been given and had cited by then."""

from __future__ import annotations

import openai
import pytest
from django.test import Client

from chat import services
from chat.models import MessageStatus
from chat.services import AskStarted
from chat.strategies.base import TextDelta
from documents.models import Document
from evaluation.models import AnswerProvenance, PassageRole
from evaluation.provenance import provenance_export_jsonl
from evaluation.runs import retrieved_of
from tests.chat.conftest import local_corpus, local_corpus_with_chat_model, openai_corpus

pytestmark = pytest.mark.django_db

QUESTION = "How much is the meal allowance abroad?"


def passages(message, role):
    record = AnswerProvenance.objects.get(message=message)
    return list(record.passages.filter(role=role).order_by("position"))


def test_file_search_records_the_search_results_it_was_given(settings, fake_openai):
    corpus = openai_corpus(settings, fake_openai)
    conversation = services.conversation_start(corpus=corpus, user=None, strategy="file_search")

    answer = services.message_ask_collect(conversation=conversation, question=QUESTION)

    assert answer.status == MessageStatus.COMPLETE, answer.error
    # What the fake returned for file_search_call.results, read back through the SDK.
    (response_id,) = fake_openai.state.responses
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="test")
    stored = client.responses.retrieve(response_id, include=["file_search_call.results"])
    (call,) = [item for item in stored.output if item.type == "file_search_call"]
    assert call.results
    context = passages(answer, PassageRole.CONTEXT)
    assert [p.text for p in context] == [r.text for r in call.results]
    assert [p.score for p in context] == pytest.approx([r.score for r in call.results])
    documents = {d.remote_file_id: d for d in Document.objects.filter(corpus=corpus)}
    for passage, result in zip(context, call.results, strict=True):
        document = documents[result.file_id]
        assert (passage.document_id, passage.document_name) == (document.pk, document.filename)
        assert passage.chunk_ref is None  # the store's chunk lives at the provider only
    meals = next(p for p in context if p.document_name == "meals.md")
    assert (meals.page_start, meals.page_end) == (1, 1)
    record = answer.provenance
    assert record.settings["retrieval"]["queries"] == list(call.queries)
    assert record.settings["retrieval"]["top_k"] == 8
    # The quoted passages are still there, and an evaluation ranks by what was retrieved.
    assert passages(answer, PassageRole.CITED)
    assert [r.text for r in retrieved_of(answer)] == [p.text for p in context]


def test_a_file_search_answer_that_fails_keeps_what_was_retrieved(settings, fake_openai):
    corpus = openai_corpus(settings, fake_openai)
    conversation = services.conversation_start(corpus=corpus, user=None, strategy="file_search")
    fake_openai.fail_next_response(code="server_error", message="The model failed to respond.")

    answer = services.message_ask_collect(conversation=conversation, question=QUESTION)

    assert answer.status == MessageStatus.ERROR
    context = passages(answer, PassageRole.CONTEXT)
    assert any("45 euros" in p.text for p in context)
    exported = next(provenance_export_jsonl(AnswerProvenance.objects.filter(message=answer)))
    assert '"status": "error"' in exported


def test_a_stopped_answer_keeps_what_it_was_given_and_had_quoted(settings, fake_openai):
    corpus = local_corpus(settings, fake_openai)
    conversation = services.conversation_start(corpus=corpus, user=None)
    answer = None
    for event in services.message_ask(conversation=conversation, question=QUESTION):
        if isinstance(event, AskStarted):
            answer = event.answer
        elif isinstance(event, TextDelta):
            services.message_stop(answer=answer)  # Stop, pressed while the answer streams

    answer.refresh_from_db()
    assert answer.status == MessageStatus.STOPPED
    context = passages(answer, PassageRole.CONTEXT)
    assert context[0].document_name == "meals.md"
    assert context[0].chunk_ref is not None
    assert answer.provenance.settings["retrieval"]["top_k"] == 6
    # Only what had been quoted before the stop.
    cited = passages(answer, PassageRole.CITED)
    assert [p.text for p in cited] == [c["quote"] for c in answer.citations]


def test_an_answer_whose_reader_left_keeps_its_passages(settings, fake_openai):
    corpus = local_corpus(settings, fake_openai)
    conversation = services.conversation_start(corpus=corpus, user=None)
    events = services.message_ask(conversation=conversation, question=QUESTION)
    started = next(events)
    next(event for event in events if isinstance(event, TextDelta))
    events.close()  # the client went away mid-answer

    answer = started.answer
    answer.refresh_from_db()
    assert answer.status == MessageStatus.STOPPED
    assert passages(answer, PassageRole.CONTEXT)[0].document_name == "meals.md"


def test_a_model_failure_after_the_search_keeps_the_passages(settings, fake_openai):
    corpus = local_corpus_with_chat_model(settings, fake_openai)
    conversation = services.conversation_start(corpus=corpus, user=None)
    fake_openai.fail_next("POST", r"/chat/completions$", status=500, times=5)

    answer = services.message_ask_collect(conversation=conversation, question=QUESTION)

    assert answer.status == MessageStatus.ERROR
    context = passages(answer, PassageRole.CONTEXT)
    assert context[0].document_name == "meals.md"
    assert passages(answer, PassageRole.CITED) == []


def test_nothing_is_recorded_when_the_answer_failed_before_retrieving(settings, fake_openai):
    corpus = local_corpus(settings, fake_openai)
    corpus.embedding_model = "missing-model"  # the search itself fails
    corpus.save()
    conversation = services.conversation_start(corpus=corpus, user=None)

    answer = services.message_ask_collect(conversation=conversation, question=QUESTION)

    assert answer.status == MessageStatus.ERROR
    assert not AnswerProvenance.objects.filter(message=answer).exists()


def test_the_asker_sees_why_these_sources_of_a_stopped_answer(corpus, people):
    conversation = services.conversation_start(corpus=corpus, user=people.reader)
    events = services.message_ask(conversation=conversation, question=QUESTION)
    started = next(events)
    next(event for event in events if isinstance(event, TextDelta))
    events.close()
    client = Client()
    client.force_login(people.reader)

    page = client.get(f"/c/{corpus.slug}/conversations/{conversation.pk}/").content.decode()
    body = client.get(f"/answers/{started.answer.pk}/sources/?fragment=1").content.decode()

    assert f"/answers/{started.answer.pk}/sources/" in page
    assert "The answer was stopped" in body
    assert "meals.md" in body
    assert "re-indexed since" not in body

from __future__ import annotations

import io
import re

import openai
import pytest

from chat import services
from chat.models import MessageStatus
from chat.strategies.base import (
    AnswerDone,
    AnswerRequest,
    CitationFound,
    PassagesFound,
    StrategyError,
    TextDelta,
    Turn,
    get_strategy,
)
from chat.strategies.file_search import FileSearchStrategy
from chat.strategies.remote import SYNCED, AnnotatedText, CitedFiles, answer_digest, excerpt
from documents import services as document_services
from documents.models import Corpus, Document
from tests.chat.conftest import MEALS, openai_corpus, openai_corpus_with_previous_response

pytestmark = pytest.mark.django_db

MARKER = re.compile(r"\[\d+\]")
MEAL_TURN = Turn(
    question="What is reimbursed for meals abroad?",
    answer="Meals abroad are reimbursed up to 45 euros per day [1].",
)


@pytest.fixture
def corpus(settings, fake_openai) -> Corpus:
    corpus = openai_corpus(settings, fake_openai)
    corpus.refresh_from_db()
    return corpus


def ask(corpus, question, *, history=(), provider_state=None, strategy=None):
    request = AnswerRequest(
        corpus=corpus,
        question=question,
        history=tuple(history),
        provider_state=provider_state or {},
    )
    return list((strategy or get_strategy("file_search")).answer(request))


def responses(fake_openai):
    return fake_openai.requests_to("POST", r"/responses$")


def test_the_conversation_is_created_once_and_reused(corpus, fake_openai):
    conversation = services.conversation_start(corpus=corpus, user=None, strategy="file_search")

    for question in ("What is reimbursed for meals abroad?", "And those receipts?"):
        answer = services.message_ask_collect(conversation=conversation, question=question)
        assert answer.status == MessageStatus.COMPLETE, answer.error

    created = fake_openai.requests_to("POST", r"/conversations$")
    assert len(created) == 1
    conversation_id = created[0].response["id"]
    assert [r.body["conversation"] for r in responses(fake_openai)] == [conversation_id] * 2
    # The conversation holds the turns: each request sends the question alone.
    assert [len(r.body["input"]) for r in responses(fake_openai)] == [1, 1]
    conversation.refresh_from_db()
    assert conversation.provider_state["file_search"]["conversation_id"] == conversation_id


def test_previous_response_ids_chain_the_turns(settings, fake_openai):
    corpus = openai_corpus_with_previous_response(settings, fake_openai)
    conversation = services.conversation_start(corpus=corpus, user=None, strategy="file_search")

    services.message_ask_collect(conversation=conversation, question="What about meals abroad?")
    follow_up = services.message_ask_collect(
        conversation=conversation, question="And how long do I have for those receipts?"
    )

    first, second = responses(fake_openai)
    assert "previous_response_id" not in first.body
    assert second.body["previous_response_id"] == first.events[-1][1]["response"]["id"]
    assert len(second.body["input"]) == 1
    assert "conversation" not in second.body
    assert not fake_openai.requests_to("POST", r"/conversations")
    assert "thirty days" in follow_up.content
    conversation.refresh_from_db()
    state = conversation.provider_state["file_search"]
    assert state["previous_response_id"] == second.events[-1][1]["response"]["id"]


def test_a_moved_conversation_seeds_the_remote_conversation_with_its_turns(corpus, fake_openai):
    events = ask(corpus, "And how long do I have for those receipts?", history=[MEAL_TURN])

    (created,) = fake_openai.requests_to("POST", r"/conversations$")
    assert created.body["items"] == [
        {"type": "message", "role": "user", "content": MEAL_TURN.question},
        # The [n] marks of the old answer point at nothing the model sees.
        {
            "type": "message",
            "role": "assistant",
            "content": "Meals abroad are reimbursed up to 45 euros per day.",
        },
    ]
    done = events[-1]
    assert "thirty days" in done.answer
    assert done.provider_state["conversation_id"] == created.response["id"]


def test_previous_response_without_an_id_sends_the_history_as_input(settings, fake_openai):
    corpus = openai_corpus_with_previous_response(settings, fake_openai)

    done = ask(corpus, "And how long do I have for those receipts?", history=[MEAL_TURN])[-1]

    (request,) = responses(fake_openai)
    assert [(item["role"], item["content"]) for item in request.body["input"]] == [
        ("user", MEAL_TURN.question),
        ("assistant", "Meals abroad are reimbursed up to 45 euros per day."),
        ("user", "And how long do I have for those receipts?"),
    ]
    assert "thirty days" in done.answer


def test_turns_answered_by_another_strategy_meanwhile_are_sent_along(corpus, fake_openai):
    first = ask(corpus, MEAL_TURN.question)[-1]
    later = Turn(question="Who leases company cars?", answer="Cars are leased for four years.")
    history = [Turn(question=MEAL_TURN.question, answer=first.answer), later]

    ask(corpus, "And fuel receipts?", history=history, provider_state=first.provider_state)

    assert len(fake_openai.requests_to("POST", r"/conversations$")) == 1
    request = responses(fake_openai)[-1]
    assert request.body["conversation"] == first.provider_state["conversation_id"]
    assert [item["content"] for item in request.body["input"]] == [
        later.question,
        later.answer,
        "And fuel receipts?",
    ]


def test_a_conversation_gone_at_openai_is_started_afresh_from_the_history(corpus, fake_openai):
    state = {"conversation_id": "conv_deleted", SYNCED: answer_digest(MEAL_TURN.answer)}

    done = ask(
        corpus,
        "And how long do I have for those receipts?",
        history=[MEAL_TURN],
        provider_state=state,
    )[-1]

    (created,) = fake_openai.requests_to("POST", r"/conversations$")
    assert len(created.body["items"]) == 2
    assert done.provider_state["conversation_id"] == created.response["id"]
    assert "thirty days" in done.answer


def test_markers_go_where_the_annotations_point_and_never_into_the_stream(corpus, fake_openai):
    events = ask(corpus, "How much is the meal allowance abroad?")

    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    done = events[-1]
    assert not MARKER.search(streamed)
    assert done.answer == streamed.replace("travelling abroad.", "travelling abroad[1].", 1)
    citation = done.citations[0]
    meals = Document.objects.get(corpus=corpus, filename="meals.md")
    assert (citation.document_id, citation.page, citation.page_end) == (meals.pk, 1, 1)
    assert "45 euros per day" in citation.quote
    page = meals.pages.get(number=1)
    located = page.text[citation.char_start - page.char_start : citation.char_end - page.char_start]
    assert "Meal expenses are reimbursed up to 45 euros" in located
    # The quote is the search result the model read.
    (request,) = responses(fake_openai)
    assert request.body["include"] == ["file_search_call.results"]
    assert request.body["tools"][0]["vector_store_ids"] == [corpus.vector_store_id]
    assert request.body["tools"][0]["max_num_results"] == 8


def test_citations_of_a_file_of_another_corpus_are_dropped(corpus, fake_openai):
    other = document_services.corpus_create(name="Other", slug="other", index_backend="openai")
    outcome = document_services.document_upload(
        corpus=other,
        file=io.BytesIO(b"# Parking\n\nParking spaces are assigned by the facilities team.\n"),
        filename="parking.md",
    )
    document_services.document_ingest(document_id=outcome.document.pk)
    outcome.document.refresh_from_db()
    # A store shared by mistake (or adopted) holds a file this corpus does not own.
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="test")
    client.vector_stores.files.create(
        corpus.vector_store_id, file_id=outcome.document.remote_file_id
    )

    events = ask(corpus, "Who assigns the parking spaces?")

    done = events[-1]
    assert "facilities team" in done.answer
    assert done.citations == ()
    assert not MARKER.search(done.answer)
    assert not [e for e in events if isinstance(e, CitationFound)]


def test_a_rate_limit_is_a_retryable_strategy_error(corpus, fake_openai):
    fake_openai.fail_next("POST", r"/responses$", status=429)

    with pytest.raises(StrategyError) as error:
        ask(corpus, "How much is the meal allowance abroad?")

    assert error.value.retryable
    assert error.value.code == "rate_limited"


def test_a_response_that_fails_while_streaming_is_a_strategy_error(corpus, fake_openai):
    fake_openai.fail_next_response(code="server_error", message="The model failed to respond.")
    request = AnswerRequest(
        corpus=corpus,
        question="How much is the meal allowance abroad?",
        history=(),
        provider_state={},
    )
    events = get_strategy("file_search").answer(request)
    shown = [next(events)]

    with pytest.raises(StrategyError) as error:
        shown.extend(events)

    assert "The model failed to respond." in str(error.value)
    assert error.value.retryable
    # The search finished before the failure: its results were reported, then text.
    assert isinstance(shown[0], PassagesFound)
    assert shown[0].passages
    assert all(isinstance(e, TextDelta) for e in shown[1:])


def test_an_incomplete_response_keeps_its_text_with_a_notice(corpus, fake_openai):
    strategy = FileSearchStrategy(key="file_search", max_output_tokens=5)

    done = ask(corpus, "How much is the meal allowance abroad?", strategy=strategy)[-1]

    assert isinstance(done, AnswerDone)
    assert len(done.answer.split()) == 5
    assert "cut short" in done.notice
    assert responses(fake_openai)[0].body["max_output_tokens"] == 5


def test_the_models_usage_is_reported(corpus, fake_openai):
    done = ask(corpus, "How much is the meal allowance abroad?")[-1]

    usage = responses(fake_openai)[0].events[-1][1]["response"]["usage"]
    assert done.usage.prompt_tokens == usage["input_tokens"] > 0
    assert done.usage.completion_tokens == usage["output_tokens"] > 0
    assert done.usage.model == "gpt-4.1-mini"


def test_a_corpus_with_nothing_indexed_is_refused_without_calling_openai(settings, fake_openai):
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "test"
    empty = document_services.corpus_create(name="Empty", slug="empty", index_backend="openai")

    with pytest.raises(StrategyError) as error:
        ask(empty, "Anything?")

    assert not error.value.retryable
    assert error.value.code == "not_indexed"
    assert "Empty" in str(error.value)
    assert not fake_openai.requests


def test_an_unknown_state_option_is_a_configuration_error():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        FileSearchStrategy(key="file_search", state="threads")


def test_without_search_results_the_documents_best_paragraph_is_quoted(corpus):
    meals = Document.objects.get(corpus=corpus, filename="meals.md")
    cited = CitedFiles(corpus)

    number, citation = cited.cite(meals.remote_file_id, context="Upload them within thirty days")
    again = cited.cite(meals.remote_file_id, context="Receipts go in within thirty days")

    assert number == 1
    assert citation is not None
    assert "thirty days" in citation.quote
    assert (citation.page, citation.document) == (1, "meals.md")
    assert again == (1, None)
    assert cited.cite("file-unknown", context="anything") is None


# --- pure helpers ---------------------------------------------------------------------------------


def test_marks_inside_a_word_move_to_its_end_and_repeat_once():
    text = AnnotatedText()
    text.add("a", "Meals cost 45 euros.")
    text.mark("a", 16, 1)  # inside "euros"
    text.mark("a", 19, 1)
    text.mark("a", 19, 2)

    assert text.final() == "Meals cost 45 euros[1][2]."


def test_a_second_output_text_is_set_apart_in_the_stream_and_the_answer():
    text = AnnotatedText()
    streamed = text.add("a", "First.") + text.add("b", "Second.")

    assert streamed == text.final() == "First.\n\nSecond."


def test_a_long_passage_is_quoted_around_its_best_sentence():
    filler = "Unrelated sentence about the weather and the canteen menu. " * 20
    passage = filler + MEALS + filler

    quote = excerpt(passage, {"meal", "reimbursed", "abroad"}, limit=200)

    assert "Meal expenses are reimbursed up to 45 euros" in quote
    assert len(quote) <= 200

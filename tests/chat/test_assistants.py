from __future__ import annotations

import io
import re

import openai
import pytest

from chat import services
from chat.models import MessageStatus
from chat.strategies.assistants import AssistantsStrategy, SourceMarker, SourceMarkerStream
from chat.strategies.base import (
    AnswerRequest,
    CitationFound,
    StrategyError,
    TextDelta,
    Turn,
    get_strategy,
)
from documents import services as document_services
from documents.models import Corpus, Document
from tests.chat.conftest import openai_corpus

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
    return list((strategy or get_strategy("assistants")).answer(request))


def test_the_assistant_and_the_thread_are_created_once_and_reused(corpus, fake_openai):
    conversation = services.conversation_start(corpus=corpus, user=None, strategy="assistants")

    for question in ("What is reimbursed for meals abroad?", "And those receipts?"):
        answer = services.message_ask_collect(conversation=conversation, question=question)
        assert answer.status == MessageStatus.COMPLETE, answer.error

    (created,) = fake_openai.requests_to("POST", r"/assistants$")
    assistant_id = created.response["id"]
    assert created.body["tool_resources"] == {
        "file_search": {"vector_store_ids": [corpus.vector_store_id]}
    }
    assert created.headers["openai-beta"] == "assistants=v2"
    (thread,) = fake_openai.requests_to("POST", r"/threads$")
    thread_id = thread.response["id"]
    # The second question is added to the thread the first one started.
    (added,) = fake_openai.requests_to("POST", rf"/threads/{thread_id}/messages$")
    assert added.body == {"role": "user", "content": "And those receipts?"}
    runs = fake_openai.requests_to("POST", rf"/threads/{thread_id}/runs$")
    assert [run.body["assistant_id"] for run in runs] == [assistant_id] * 2
    corpus.refresh_from_db()
    conversation.refresh_from_db()
    assert corpus.strategy_state["assistants"] == {"assistant_id": assistant_id}
    assert conversation.provider_state["assistants"]["thread_id"] == thread_id


def test_a_moved_conversation_seeds_the_thread_with_its_turns(corpus, fake_openai):
    done = ask(corpus, "And how long do I have for those receipts?", history=[MEAL_TURN])[-1]

    (thread,) = fake_openai.requests_to("POST", r"/threads$")
    assert thread.body["messages"] == [
        {"role": "user", "content": MEAL_TURN.question},
        {"role": "assistant", "content": "Meals abroad are reimbursed up to 45 euros per day."},
        {"role": "user", "content": "And how long do I have for those receipts?"},
    ]
    assert "thirty days" in done.answer
    assert done.provider_state["thread_id"] == thread.response["id"]


def test_source_markers_become_citation_markers_and_never_reach_the_shown_text(corpus, fake_openai):
    events = ask(corpus, "How much is the meal allowance abroad?")

    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    done = events[-1]
    assert "【" not in streamed
    assert "†" not in streamed
    assert done.answer == streamed
    assert "travelling abroad[1]." in done.answer
    # The model did write them.
    run = fake_openai.requests_to("POST", r"/runs$")[0]
    assert any("【" in str(data) for kind, data in run.events if kind == "thread.message.delta")
    citation = done.citations[0]
    meals = Document.objects.get(corpus=corpus, filename="meals.md")
    assert (citation.document_id, citation.page) == (meals.pk, 1)
    assert "45 euros per day" in citation.quote
    assert citation.char_start is not None
    assert run.query["include[]"] == ["step_details.tool_calls[*].file_search.results[*].content"]


def test_citations_of_a_file_of_another_corpus_are_dropped(corpus, fake_openai):
    other = document_services.corpus_create(name="Other", slug="other", index_backend="openai")
    outcome = document_services.document_upload(
        corpus=other,
        file=io.BytesIO(b"# Parking\n\nParking spaces are assigned by the facilities team.\n"),
        filename="parking.md",
    )
    document_services.document_ingest(document_id=outcome.document.pk)
    outcome.document.refresh_from_db()
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="test")
    client.vector_stores.files.create(
        corpus.vector_store_id, file_id=outcome.document.remote_file_id
    )

    events = ask(corpus, "Who assigns the parking spaces?")

    done = events[-1]
    assert done.answer.endswith("assigned by the facilities team.")
    assert "【" not in done.answer
    assert done.citations == ()
    assert not [e for e in events if isinstance(e, CitationFound)]


def test_a_rate_limit_is_a_retryable_strategy_error(corpus, fake_openai):
    fake_openai.fail_next("POST", r"/runs$", status=429)

    with pytest.raises(StrategyError) as error:
        ask(corpus, "How much is the meal allowance abroad?")

    assert error.value.retryable
    assert error.value.code == "rate_limited"


@pytest.mark.parametrize("stored", [False, True])
def test_an_assistants_api_that_is_gone_says_so_and_points_to_file_search(
    corpus, fake_openai, stored
):
    if stored:
        corpus.strategy_state = {"assistants": {"assistant_id": "asst_1"}}
    fake_openai.fail_next("*", r"/assistants|/threads", status=404, times=10)

    with pytest.raises(StrategyError) as error:
        ask(corpus, "How much is the meal allowance abroad?")

    assert error.value.code == "api_shut_down"
    assert not error.value.retryable
    assert "2026-08-26" in str(error.value)
    assert "File Search" in str(error.value)


def test_a_stored_assistant_gone_at_the_server_is_replaced(corpus, fake_openai):
    corpus.strategy_state = {"assistants": {"assistant_id": "asst_deleted"}}

    done = ask(corpus, "How much is the meal allowance abroad?")[-1]

    (created,) = fake_openai.requests_to("POST", r"/assistants$")
    assert done.corpus_state == {"assistant_id": created.response["id"]}
    assert "45 euros" in done.answer


def test_an_assistant_whose_id_was_never_stored_is_reused(corpus, fake_openai):
    first = ask(corpus, "How much is the meal allowance abroad?")[-1]

    # The first turn's corpus state was lost (say the answer failed to save).
    second = ask(corpus, "When must meal receipts be uploaded?")[-1]

    assert len(fake_openai.requests_to("POST", r"/assistants$")) == 1
    assert second.corpus_state == first.corpus_state


def test_an_assistant_with_other_settings_is_brought_up_to_date(corpus, fake_openai):
    first = ask(corpus, "How much is the meal allowance abroad?")[-1]
    corpus.strategy_state = {"assistants": first.corpus_state}
    assistant_id = first.corpus_state["assistant_id"]

    done = ask(
        corpus,
        "When must meal receipts be uploaded?",
        strategy=AssistantsStrategy(key="assistants", model="gpt-4.1"),
    )[-1]

    (updated,) = fake_openai.requests_to("POST", rf"/assistants/{assistant_id}$")
    assert updated.body["model"] == "gpt-4.1"
    assert done.corpus_state == {}
    assert done.usage.model == "gpt-4.1"


def test_a_failed_run_is_a_strategy_error_with_its_reason(corpus, fake_openai):
    fake_openai.fail_next_run(code="server_error", message="Sorry, something went wrong.")

    with pytest.raises(StrategyError) as error:
        ask(corpus, "How much is the meal allowance abroad?")

    assert "Sorry, something went wrong." in str(error.value)
    assert error.value.retryable


def test_a_thread_held_by_a_run_is_replaced_by_a_new_one_with_the_history(corpus, fake_openai):
    first = ask(corpus, MEAL_TURN.question)[-1]
    thread_id = first.provider_state["thread_id"]
    busy = f"Can't add messages to {thread_id} while a run run_1 is active."
    fake_openai.fail_next(
        "POST",
        rf"/threads/{thread_id}/messages$",
        status=400,
        body={"error": {"message": busy, "type": "invalid_request_error", "param": None}},
    )
    history = [Turn(question=MEAL_TURN.question, answer=first.answer)]

    done = ask(
        corpus,
        "And how long do I have for those receipts?",
        history=history,
        provider_state=first.provider_state,
    )[-1]

    assert done.provider_state["thread_id"] != thread_id
    seeded = fake_openai.requests_to("POST", r"/threads$")[-1]
    assert len(seeded.body["messages"]) == 3
    assert "thirty days" in done.answer


def test_stopping_the_answer_cancels_the_run(corpus, fake_openai):
    request = AnswerRequest(
        corpus=corpus,
        question="How much is the meal allowance abroad?",
        history=(),
        provider_state={},
    )
    events = get_strategy("assistants").answer(request)

    assert next(e for e in events if isinstance(e, TextDelta))
    events.close()

    assert len(fake_openai.requests_to("POST", r"/runs/[^/]+/cancel$")) == 1


def test_the_runs_usage_is_reported(corpus, fake_openai):
    done = ask(corpus, "How much is the meal allowance abroad?")[-1]

    run = fake_openai.requests_to("POST", r"/runs$")[0]
    usage = run.events[-2][1]["usage"]  # thread.run.completed, before [DONE]
    assert done.usage.prompt_tokens == usage["prompt_tokens"] > 0
    assert done.usage.completion_tokens == usage["completion_tokens"] > 0
    assert done.usage.model == "gpt-4.1-mini"


def test_the_admin_notice_tells_of_the_shutdown():
    notice = AssistantsStrategy(key="assistants").admin_notice

    assert "2026-08-26" in notice
    assert "ASSISTANTS_BASE_URL" in notice
    assert "File Search" in notice


# --- the marker filter ----------------------------------------------------------------------------


def feed(deltas: list[str]) -> list[str | SourceMarker]:
    markers = SourceMarkerStream()
    pieces = [piece for delta in deltas for piece in markers.feed(delta)]
    return pieces + markers.flush()


def test_a_marker_split_across_deltas_is_held_back_until_complete():
    markers = SourceMarkerStream()

    assert markers.feed("It is 45 euros 【4") == ["It is 45 euros"]
    assert markers.feed(":0†mea") == []
    assert markers.feed("ls.md】 per day.") == [" ", SourceMarker("【4:0†meals.md】"), " per day."]


def test_bracketed_text_that_is_no_marker_passes_through():
    assert "".join(map(str, feed(["See 【注意】 and 【", "x】."]))) == "See 【注意】 and 【x】."


def test_an_unfinished_marker_at_the_end_is_dropped():
    assert feed(["Costs 45 euros【4:0†mea"]) == ["Costs 45 euros"]

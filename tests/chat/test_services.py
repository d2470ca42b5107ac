from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from chat import services
from chat.models import Conversation, Message, MessageStatus
from chat.strategies.base import (
    AnswerDone,
    AnswerRequest,
    Citation,
    CitationFound,
    StrategyError,
    StrategyEvent,
    TextDelta,
    Usage,
)
from documents.backends.base import Searchable
from tests.chat.conftest import local_corpus

pytestmark = pytest.mark.django_db


class RecordingStrategy:
    """A test double registered through settings: records what it is asked, answers from a
    script, keeps a turn counter as provider state."""

    label = "Recording"
    requires = (Searchable,)
    admin_notice = ""
    requests: list[AnswerRequest] = []
    fail_with: Exception | None = None

    def __init__(self, *, key: str) -> None:
        self.key = key

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        RecordingStrategy.requests.append(request)
        yield TextDelta("Forty-five ")
        if RecordingStrategy.fail_with is not None:
            raise RecordingStrategy.fail_with
        citation = Citation(
            number=1, document_id=1, document="meals.md", page=1, page_end=1, quote="45 euros"
        )
        yield CitationFound(citation)
        yield TextDelta("euros [1].")
        turn = request.provider_state.get("turn", 0) + 1
        yield AnswerDone(
            answer="Forty-five euros [1].",
            citations=(citation,),
            usage=Usage(prompt_tokens=12, completion_tokens=5, model="recorder-1"),
            provider_state={"turn": turn},
            corpus_state={"seen": True},
        )


@pytest.fixture
def recording(settings):
    settings.CHAT_STRATEGIES = {
        **settings.CHAT_STRATEGIES,
        "recording": {"BACKEND": "tests.chat.test_services.RecordingStrategy"},
    }
    RecordingStrategy.requests = []
    RecordingStrategy.fail_with = None
    return RecordingStrategy


@pytest.fixture
def corpus(settings, fake_openai):
    return local_corpus(settings, fake_openai)


@pytest.fixture
def conversation(corpus, recording, django_user_model):
    user = django_user_model.objects.create_user("ann")
    return services.conversation_start(corpus=corpus, user=user, strategy="recording")


def test_a_turn_is_stored_with_answer_citations_usage_and_timings(conversation):
    message = services.message_ask_collect(conversation=conversation, question=" Meal limit? ")
    question, answer = Message.objects.filter(conversation=conversation)
    assert (question.role, question.content) == ("user", "Meal limit?")
    assert answer.status == MessageStatus.COMPLETE
    assert answer == message
    assert answer.content == "Forty-five euros [1]."
    assert answer.citations[0]["document"] == "meals.md"
    assert answer.strategy == "recording"
    assert answer.usage == {
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "total_tokens": 17,
        "model": "recorder-1",
    }
    assert answer.first_token_ms is not None
    assert answer.latency_ms >= answer.first_token_ms
    conversation.refresh_from_db()
    assert conversation.title == "Meal limit?"
    assert conversation.corpus.strategy_state == {"recording": {"seen": True}}


def test_provider_state_is_kept_per_strategy_and_sent_back(conversation, recording):
    services.message_ask_collect(conversation=conversation, question="One?")
    services.message_ask_collect(conversation=conversation, question="Two?")
    assert [r.provider_state for r in recording.requests] == [{}, {"turn": 1}]
    assert [t.question for t in recording.requests[1].history] == ["One?"]
    conversation.refresh_from_db()
    assert conversation.provider_state == {"recording": {"turn": 2}}


def test_stopping_midway_keeps_the_partial_answer(conversation):
    events = services.message_ask(conversation=conversation, question="Meal limit?")
    for event in events:
        if isinstance(event, TextDelta):
            break
    events.close()
    answer = Message.objects.get(conversation=conversation, role="assistant")
    assert answer.status == MessageStatus.STOPPED
    assert answer.content == "Forty-five "


def test_a_strategy_error_is_stored_with_its_reason(conversation, recording):
    recording.fail_with = StrategyError("OpenAI is rate-limiting", retryable=True, code="rate")
    events = list(services.message_ask(conversation=conversation, question="Meal limit?"))
    failed = events[-1]
    assert isinstance(failed, services.AskFailed)
    assert failed.retryable
    assert failed.message.status == MessageStatus.ERROR
    assert failed.message.error == "OpenAI is rate-limiting"
    assert failed.message.content == "Forty-five "
    # A failed turn is not history for the next question.
    assert services.conversation_history(conversation) == ()


def test_an_unexpected_error_is_stored_without_a_traceback(conversation, recording):
    recording.fail_with = KeyError("boom")
    message = services.message_ask_collect(conversation=conversation, question="Meal limit?")
    assert message.status == MessageStatus.ERROR
    assert f"conversation {conversation.pk}" in message.error
    assert "boom" not in message.error


@pytest.mark.parametrize("question", ["", "   ", "x" * 5000])
def test_empty_or_huge_questions_are_refused_and_nothing_is_stored(conversation, question):
    with pytest.raises(ValidationError):
        list(services.message_ask(conversation=conversation, question=question))
    assert not Message.objects.exists()


def test_a_strategy_for_another_index_backend_is_refused(corpus):
    with pytest.raises(ValidationError) as error:
        services.conversation_start(corpus=corpus, user=None, strategy="file_search")
    message = error.value.message_dict["strategy"][0]
    assert "needs an index backend with a remote vector store" in message
    assert "'pgvector' does not offer" in message


def test_an_unknown_strategy_is_refused(corpus):
    with pytest.raises(ValidationError, match="Unknown strategy"):
        services.conversation_start(corpus=corpus, user=None, strategy="telepathy")


def test_moving_conversations_to_another_strategy_keeps_their_history(
    corpus, conversation, recording
):
    services.message_ask_collect(conversation=conversation, question="One?")
    moved = services.conversations_move_strategy(
        corpus=corpus, from_strategy="recording", to_strategy="manual_retrieval"
    )
    assert moved == 1
    conversation.refresh_from_db()
    corpus.refresh_from_db()
    assert conversation.strategy == "manual_retrieval"
    assert corpus.chat_strategy == "manual_retrieval"
    answer = services.message_ask_collect(conversation=conversation, question="meal receipts")
    assert answer.strategy == "manual_retrieval"
    assert [t.question for t in services.conversation_history(conversation)] == [
        "One?",
        "meal receipts",
    ]


def test_rename_and_delete(conversation):
    services.conversation_rename(conversation=conversation, title="  Travel   money ")
    assert Conversation.objects.get().title == "Travel money"
    with pytest.raises(ValidationError):
        services.conversation_rename(conversation=conversation, title="  ")
    services.conversation_delete(conversation=conversation)
    assert not Conversation.objects.exists()


# --- the ask command --------------------------------------------------------------------------


def test_ask_command_prints_json_with_answer_citations_and_usage(corpus):
    out = io.StringIO()
    call_command("ask", "--corpus", corpus.slug, "--json", "meal allowance abroad?", stdout=out)
    result = json.loads(out.getvalue())
    assert "45 euros" in result["answer"]
    assert result["strategy"] == "manual_retrieval"
    assert result["citations"][0]["document"] == "meals.md"
    assert {"document", "document_id", "page", "quote"} <= set(result["citations"][0])
    assert result["usage"]["model"] == "extractive"
    conversation = Conversation.objects.get(pk=result["conversation_id"])
    out = io.StringIO()
    call_command(
        "ask", "--corpus", corpus.slug, "--conversation", str(conversation.pk),
        "and how long for those receipts?", stdout=out,
    )  # fmt: skip
    assert "thirty days" in out.getvalue()
    assert "Sources:" in out.getvalue()
    assert conversation.messages.count() == 4


def test_ask_command_refuses_a_strategy_the_corpus_cannot_use(corpus):
    with pytest.raises(CommandError, match="remote vector store"):
        call_command("ask", "--corpus", corpus.slug, "--strategy", "assistants", "hi")

"""REST corpora (api/rest/corpora.py): asking (JSON and SSE) and search."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import AsyncClient

from api.models import ApiConversation, ApiInterface, ApiToken
from chat.models import Conversation, Message, MessageStatus
from chat.streaming import message_payload
from documents import services as document_services
from tests.api.conftest import api_client, parse_sse, token_for
from tests.api.rest.conftest import ask
from tests.api.strategies import BrokenStrategy, FailingStrategy, StoppedStrategy

pytestmark = pytest.mark.django_db(transaction=True)


def test_ask_answers_in_json_and_continues_the_conversation(client, plaintext, policies):
    first = ask(client, "How much is the meal allowance abroad?")
    assert first.status_code == 200
    answer = first.json()
    assert answer["status"] == "complete"
    assert "45 euros" in answer["answer"]
    assert answer["citations"][0]["document"] == "meals.md"
    assert answer["citations"][0]["quote"]
    assert answer["strategy"] == "manual_retrieval"
    assert answer["grounded"] is True
    assert set(answer["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens", "model"}
    stored = Message.objects.get(pk=answer["message_id"])
    assert answer == json.loads(json.dumps(message_payload(stored)))

    conversation = Conversation.objects.get(pk=answer["conversation_id"])
    origin = ApiConversation.objects.get(conversation=conversation)
    assert origin.token == ApiToken.objects.get()
    assert origin.interface == ApiInterface.REST
    assert conversation.user.username == "carl"

    follow_up = ask(
        client, "And when are the receipts due?", conversation_id=answer["conversation_id"]
    ).json()
    assert follow_up["conversation_id"] == answer["conversation_id"]
    assert "thirty days" in follow_up["answer"]
    assert conversation.messages.count() == 4
    assert ApiConversation.objects.count() == 1


async def _stream(plaintext: str, body: dict, *, accept: str = "") -> tuple:
    headers = {"Authorization": f"Bearer {plaintext}"}
    if accept:
        headers["Accept"] = accept
    response = await AsyncClient().post(
        "/api/corpora/policies/ask",
        json.dumps(body),
        content_type="application/json",
        headers=headers,
    )
    if not response.streaming:
        return response, None
    chunks = [chunk async for chunk in response.streaming_content]
    text = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    return response, parse_sse(text)


@pytest.mark.parametrize("how", ["stream flag", "accept header"])
def test_ask_streams_the_web_uis_events(plaintext, policies, how):
    body = {"question": "How much is the meal allowance abroad?"}
    if how == "stream flag":
        response, stream = asyncio.run(_stream(plaintext, {**body, "stream": True}))
    else:
        response, stream = asyncio.run(_stream(plaintext, body, accept="text/event-stream"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert {"no-cache", "no-store"} <= set(response["Cache-Control"].replace(" ", "").split(","))
    names = stream.names()
    assert names[0] == "start"
    assert names[-1] == "done"
    assert {"delta", "citation"} <= set(names)
    start = stream.named("start")[0]
    assert set(start) == {"conversation_id", "question_id", "message_id", "strategy"}
    done = stream.named("done")[0]
    stored = Message.objects.get(pk=done["message_id"])
    assert done == json.loads(json.dumps(message_payload(stored)))
    assert "".join(d["text"] for d in stream.named("delta")).strip() == done["answer"]
    assert stream.named("citation")[0]["document"] == "meals.md"
    origin = ApiConversation.objects.get(conversation_id=start["conversation_id"])
    assert origin.interface == ApiInterface.REST


def test_a_refused_question_is_a_422_before_streaming_and_keeps_nothing(plaintext, policies):
    response, stream = asyncio.run(_stream(plaintext, {"question": "   ", "stream": True}))
    assert stream is None
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid",
        "message": "Ask a question first.",
        "field": "question",
        "retryable": False,
    }
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "field", "message"),
    [
        ({}, 422, "question", "Field required"),
        ({"question": "x" * 5000}, 422, "question", "limited to 4000 characters"),
        ({"question": "Meals?", "strategy": "nope"}, 422, "strategy", "Unknown strategy"),
        ({"question": "Meals?", "strategy": "file_search"}, 422, "strategy", "backend"),
        ({"question": "Meals?", "conversation_id": 0}, 422, "conversation_id", "greater"),
        ({"question": "Meals?", "conversation_id": 999999}, 404, None, "no conversation"),
        ({"question": ["Meals?"]}, 422, "question", "valid string"),
    ],
)
def test_bad_questions_are_refused_naming_the_field(client, policies, body, status, field, message):
    response = client.post(
        "/api/corpora/policies/ask", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["field"] == field
    assert message.lower() in error["message"].lower()
    assert not Conversation.objects.exists()


def test_a_body_that_is_not_json_is_a_400(client, policies):
    response = client.post(
        "/api/corpora/policies/ask", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_a_conversation_of_another_corpus_cannot_be_continued_here(people, client, policies):
    other = document_services.corpus_create(name="Other", slug="other")
    from chat.services import conversation_start

    conversation = conversation_start(corpus=other, user=people.contributor)
    response = ask(client, "Meals?", conversation_id=conversation.pk)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.fixture
def strategy(settings, policies):
    def use(cls) -> None:
        key = cls.__name__.lower()
        settings.CHAT_STRATEGIES = {
            **settings.CHAT_STRATEGIES,
            key: {"BACKEND": f"tests.api.strategies.{cls.__name__}"},
        }
        policies.chat_strategy = key
        policies.save(update_fields=["chat_strategy"])

    return use


@pytest.mark.parametrize(("cls", "status"), [(FailingStrategy, 503), (BrokenStrategy, 502)])
def test_a_failed_answer_says_whether_asking_again_helps(client, strategy, cls, status):
    strategy(cls)
    response = ask(client, "Meals?")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["retryable"] is cls.retryable
    assert error["code"] == ("rate_limited" if cls.retryable else "misconfigured")
    assert "Wait a minute." in error["message"]
    message = Message.objects.get(pk=error["message_id"])
    assert message.status == MessageStatus.ERROR
    assert message.conversation_id == error["conversation_id"]


def test_an_answer_stopped_from_the_web_ui_is_a_conflict_naming_the_message(client, strategy):
    strategy(StoppedStrategy)
    response = ask(client, "Meals?")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "cancelled"
    message = Message.objects.get(pk=error["message_id"])
    assert message.status == MessageStatus.STOPPED


def test_a_failed_streamed_answer_ends_with_the_web_uis_error_event(plaintext, strategy):
    strategy(FailingStrategy)
    _, stream = asyncio.run(_stream(plaintext, {"question": "Meals?", "stream": True}))
    assert stream.names() == ["start", "delta", "error"]
    error = stream.named("error")[0]
    assert error["retryable"] is True
    assert error["code"] == "rate_limited"
    assert error["answer"] == "Partly "


def test_full_text_search_on_an_openai_corpus_is_refused_plainly(people, settings, fake_openai):
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "test"
    document_services.corpus_create(name="Remote", slug="remote", index_backend="openai")
    client = api_client(token_for(people.manager, ["remote:query"]))
    from documents.models import Corpus, CorpusMembership, Role

    CorpusMembership.objects.create(
        corpus=Corpus.objects.get(slug="remote"), user=people.manager, role=Role.READER
    )
    response = client.get("/api/corpora/remote/search", {"q": "x", "mode": "fulltext"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "index_refused"
    assert error["retryable"] is False
    assert "only available for corpora indexed locally" in error["message"]


def test_a_question_the_documents_do_not_cover_is_answered_not_grounded(client, policies):
    response = ask(client, "Which Kubernetes version runs Jenkins?")

    answer = response.json()
    assert answer["status"] == "complete"
    assert answer["grounded"] is False
    assert answer["answer"].startswith("I could not find this in the documents of “Policies”.")
    assert Message.objects.get(pk=answer["message_id"]).grounded is False

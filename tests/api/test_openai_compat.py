"""/v1: the OpenAI wire shapes, in process. test_sdk.py drives the same endpoints with the
official SDK over HTTP."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import AsyncClient

from api.models import ApiConversation, ApiInterface
from api.openai_compat.completions import sources_text
from chat.models import Conversation, MessageRole
from tests.api.conftest import api_client, make_corpora, make_people, parse_sse, token_for
from tests.api.strategies import BrokenStrategy, FailingStrategy, StoppedStrategy

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How much is the meal allowance abroad?"


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def policies(people):
    return make_corpora(people)[0]


@pytest.fixture
def plaintext(people, policies):
    return token_for(people.reader)


@pytest.fixture
def client(plaintext):
    return api_client(plaintext)


def complete(client, **body):
    body.setdefault("model", "policies")
    body.setdefault("messages", [{"role": "user", "content": QUESTION}])
    return client.post("/v1/chat/completions", json.dumps(body), content_type="application/json")


async def _stream(plaintext: str, body: dict):
    response = await AsyncClient().post(
        "/v1/chat/completions",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {plaintext}"},
    )
    chunks = [chunk async for chunk in response.streaming_content]
    return response, "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)


def stream(plaintext, **body):
    body.setdefault("model", "policies")
    body.setdefault("messages", [{"role": "user", "content": QUESTION}])
    return asyncio.run(_stream(plaintext, {**body, "stream": True}))


# --- models ---------------------------------------------------------------------------------------


def test_models_are_the_corpora_the_token_may_query(client, policies):
    listing = client.get("/v1/models").json()
    assert listing == {
        "object": "list",
        "data": [
            {
                "id": "policies",
                "object": "model",
                "created": int(policies.created_at.timestamp()),
                "owned_by": "docent",
            }
        ],
    }
    assert client.get("/v1/models/policies").json() == listing["data"][0]


@pytest.mark.parametrize("model", ["secret", "nothing", "bad%20slug"])
def test_other_models_are_not_found(client, policies, model):
    response = client.get(f"/v1/models/{model}")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found"
    assert error["type"] == "invalid_request_error"
    assert "does not exist or you do not have access to it" in error["message"]


# --- completions ----------------------------------------------------------------------------------


def test_a_completion_has_openais_shape_with_sources_and_citations(client, policies):
    response = complete(client)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "service_tier",
        "citations",
        "grounded",
    }
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert body["model"] == "policies"
    (choice,) = body["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["logprobs"] is None
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["refusal"] is None
    content = choice["message"]["content"]
    assert "45 euros" in content
    assert "[1]" in content
    assert "\n\nSources:\n[1] meals.md, p. 1" in content
    assert content.endswith(sources_text(body["citations"]))
    assert body["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert body["citations"][0]["document"] == "meals.md"
    assert body["citations"][0]["number"] == 1
    assert body["grounded"] is True
    assert body["citations"][0]["quote"]

    conversation = Conversation.objects.get(pk=int(response["X-Docent-Conversation-Id"]))
    assert conversation.user.username == "rita"
    assert conversation.strategy == "manual_retrieval"
    origin = ApiConversation.objects.get(conversation=conversation)
    assert origin.interface == ApiInterface.OPENAI
    assert origin.token.user == conversation.user


def test_earlier_turns_become_stored_history_and_system_messages_are_left_out(client, policies):
    response = complete(
        client,
        messages=[
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
            {"role": "assistant", "content": "Up to 45 euros a day [1]."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And when are"},
                    {"type": "text", "text": "the receipts due?"},
                ],
            },
        ],
    )
    assert response.status_code == 200, response.content
    assert "thirty days" in response.json()["choices"][0]["message"]["content"]
    conversation = Conversation.objects.get()
    messages = list(conversation.messages.order_by("id"))
    assert [(m.role, m.content) for m in messages[:3]] == [
        (MessageRole.USER, QUESTION),
        (MessageRole.ASSISTANT, "Up to 45 euros a day [1]."),
        (MessageRole.USER, "And when are\nthe receipts due?"),
    ]
    assert messages[3].role == MessageRole.ASSISTANT
    assert messages[3].status == "complete"
    assert len(messages) == 4
    assert conversation.title == QUESTION
    assert not any("pirate" in m.content for m in messages)


def test_a_stream_has_openais_chunks_usage_and_done(plaintext, policies):
    response, body = stream(plaintext, stream_options={"include_usage": True})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert "event:" not in body  # bare data lines, as OpenAI sends them
    events = parse_sse(body)
    assert events.names() == ["message"] * len(events.events)
    chunks = [data for _, data in events.events]
    assert chunks[-1] == "[DONE]"
    chunks = chunks[:-1]
    ids = {chunk["id"] for chunk in chunks}
    assert len(ids) == 1
    assert ids.pop().startswith("chatcmpl-")
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "policies"
        assert "system_fingerprint" not in chunk  # the spec says a string: omitted, not null
        assert "usage" in chunk
    first, *middle, final, usage = chunks
    assert first["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": "", "refusal": None},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert first["usage"] is None
    assert all(c["choices"][0]["finish_reason"] is None for c in middle)
    text = "".join(c["choices"][0]["delta"]["content"] for c in middle)
    assert "45 euros" in text
    assert "\n\nSources:\n[1] meals.md, p. 1" in text
    assert text.endswith(sources_text(final["citations"]))
    assert final["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    ]
    assert final["citations"][0]["document"] == "meals.md"
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

    # The same answer as without streaming.
    whole = complete(api_client(plaintext)).json()
    assert whole["choices"][0]["message"]["content"] == text


def test_a_stream_without_include_usage_has_no_usage_field(plaintext, policies):
    _, body = stream(plaintext)
    chunks = [data for _, data in parse_sse(body).events][:-1]
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"messages": []}, "messages", "empty array"),
        ({"model": None}, "model", "expected a string"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", "expected one of"),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]},
            "messages",
            "last message must be a user message",
        ),
        (
            {"messages": [{"role": "system", "content": "Be brief."}]},
            "messages",
            "last message must be a user message",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content",
            "Only text content",
        ),
        ({"messages": [{"role": "user", "content": "  "}]}, "messages", "Ask a question first"),
        ({"n": 2}, "n", "n=1"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "only allowed when"),
    ],
)
def test_bad_requests_are_400s_in_openais_shape(client, policies, body, param, message):
    response = complete(client, **body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert message.lower() in error["message"].lower()
    assert not Conversation.objects.exists()


def test_a_corpus_the_token_may_not_query_is_model_not_found(people, client, policies):
    response = complete(client, model="secret")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    ingest_only = api_client(token_for(people.manager, ["*:ingest"]))
    assert complete(ingest_only).status_code == 404


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


@pytest.mark.parametrize(
    ("cls", "status", "retry"), [(FailingStrategy, 503, "true"), (BrokenStrategy, 500, "false")]
)
def test_a_failed_answer_is_a_server_error_that_says_whether_to_retry(
    client, strategy, cls, status, retry
):
    strategy(cls)
    response = complete(client)
    assert response.status_code == status
    assert response["x-should-retry"] == retry
    error = response.json()["error"]
    assert error["type"] == "server_error"
    assert "Wait a minute." in error["message"]


def test_a_failed_stream_ends_with_an_error_event(plaintext, strategy):
    strategy(FailingStrategy)
    _, body = stream(plaintext)
    events = [data for _, data in parse_sse(body).events]
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[1]["choices"][0]["delta"]["content"] == "Partly"
    assert events[-1]["error"]["type"] == "server_error"
    assert events[-1]["error"]["code"] == "rate_limited"
    assert "[DONE]" not in events


def test_an_answer_stopped_from_the_web_ui_is_a_cancelled_error(client, strategy):
    strategy(StoppedStrategy)
    response = complete(client)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "cancelled"
    assert error["message"] == "The answer was stopped before it ended."


def test_a_stream_stopped_from_the_web_ui_ends_with_a_cancelled_error(plaintext, strategy):
    strategy(StoppedStrategy)
    _, body = stream(plaintext)
    events = [data for _, data in parse_sse(body).events]
    assert events[1]["choices"][0]["delta"]["content"] == "Partly"
    assert events[-1]["error"]["code"] == "cancelled"
    assert "[DONE]" not in events


@pytest.mark.parametrize(
    ("citations", "text"),
    [
        ([], ""),
        (
            [
                {"number": 1, "document": "a.pdf", "page": 3, "page_end": 3},
                {"number": 2, "document": "b.pdf", "page": 2, "page_end": 4},
                {"number": 3, "document": "c.docx", "page": None, "page_end": None},
            ],
            "\n\nSources:\n[1] a.pdf, p. 3\n[2] b.pdf, pp. 2\u20134\n[3] c.docx",
        ),
    ],
)
def test_sources_are_listed_after_the_answer(citations, text):
    assert sources_text(citations) == text


def test_a_question_the_documents_do_not_cover_says_so_and_is_not_grounded(client, policies):
    response = complete(
        client, messages=[{"role": "user", "content": "Which Kubernetes version runs Jenkins?"}]
    )

    body = response.json()
    content = body["choices"][0]["message"]["content"]
    assert body["grounded"] is False
    assert content.startswith("I could not find this in the documents of “Policies”.")
    assert "Sources:" not in content
    if body["citations"]:
        assert "\n\nPossibly related:\n[1] " in content

"""The REST API end to end: upload, processing status, search, ask (JSON and SSE),
conversations, errors, rate limits, the schema and its docs page.

Answers run in a thread with its own database connection (chat.streaming.iterate_in_thread),
so these tests commit their data."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient

from api.models import ApiConversation, ApiInterface, ApiToken
from chat.models import Conversation, Message, MessageStatus
from chat.strategies.base import AnswerRequest, StrategyError, StrategyEvent, TextDelta
from chat.streaming import message_payload
from documents import services as document_services
from documents.models import Document
from tests.api.conftest import (
    MEALS,
    api_client,
    make_corpora,
    make_people,
    parse_sse,
    token_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

HANDBOOK = """# Equipment

Every new employee receives a laptop and a headset on the first working day.
Lost equipment must be reported to the IT service desk within 24 hours.
"""


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def policies(people):
    return make_corpora(people)[0]


@pytest.fixture
def plaintext(people, policies):
    return token_for(people.contributor, ["policies:query,ingest"])


@pytest.fixture
def client(plaintext):
    return api_client(plaintext)


def ask(client, question, **body):
    return client.post(
        "/api/corpora/policies/ask",
        json.dumps({"question": question, **body}),
        content_type="application/json",
    )


# --- documents ------------------------------------------------------------------------------------


def test_upload_several_files_then_poll_until_ready_search_and_ask(client, policies):
    response = client.post(
        "/api/corpora/policies/documents",
        {
            "files": [
                SimpleUploadedFile("equipment.md", HANDBOOK.encode(), "text/markdown"),
                SimpleUploadedFile("meals-copy.md", MEALS.encode(), "text/markdown"),
                SimpleUploadedFile("empty.txt", b"", "text/plain"),
            ]
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (1, 1, 1)
    created, duplicate, rejected = body["results"]
    assert created["result"] == "created"
    assert created["reason"] is None
    assert created["document"]["status"] == "queued"
    assert created["document"]["filename"] == "equipment.md"
    assert created["document"]["content_type"] == "text/markdown"
    assert duplicate["result"] == "duplicate"
    assert "meals.md" in duplicate["reason"]
    assert duplicate["document"]["filename"] == "meals.md"
    assert rejected == {
        "filename": "empty.txt",
        "result": "rejected",
        "reason": "empty.txt is empty (0 bytes); nothing to index.",
        "document": None,
    }

    document_id = created["document"]["id"]
    statuses = []
    for attempt in range(10):
        status = client.get(f"/api/documents/{document_id}").json()
        statuses.append(status["status"])
        if status["status"] in ("ready", "failed"):
            break
        if attempt == 1:  # Celery is never eager in tests: the "worker" runs now
            document_services.document_ingest(document_id=document_id)
    assert statuses[:2] == ["queued", "queued"]
    assert status["status"] == "ready", status["error"]
    assert status["pages"] == 1
    assert status["chunks"] >= 1
    assert status["progress"] == 1.0
    assert status["error"] == ""
    assert status["finished_at"] is not None

    listing = client.get("/api/corpora/policies/documents", {"limit": 1, "offset": 0}).json()
    assert listing["count"] == 2
    assert [d["filename"] for d in listing["items"]] == ["equipment.md"]
    second = client.get("/api/corpora/policies/documents", {"limit": 1, "offset": 1}).json()
    assert [d["filename"] for d in second["items"]] == ["meals.md"]
    ready = client.get("/api/corpora/policies/documents", {"status": "ready"}).json()
    assert ready["count"] == 2

    search = client.get("/api/corpora/policies/search", {"q": "laptop headset", "k": 3}).json()
    assert search["mode"] == "hybrid"
    assert search["results"][0]["document"] == "equipment.md"
    assert search["results"][0]["document_id"] == document_id
    assert "laptop" in search["results"][0]["text"]
    fulltext = client.get(
        "/api/corpora/policies/search", {"q": "laptop", "mode": "fulltext"}
    ).json()
    assert [hit["document"] for hit in fulltext["results"]] == ["equipment.md"]

    answer = ask(client, "What does a new employee receive on the first day?").json()
    assert answer["status"] == "complete"
    assert "laptop" in answer["answer"]
    assert answer["citations"][0]["document"] == "equipment.md"
    assert answer["citations"][0]["document_id"] == document_id
    assert answer["citations"][0]["page"] == 1
    assert answer["usage"]["total_tokens"] == 0  # extractive: no model, no tokens
    assert answer["usage"]["model"] == "extractive"

    deleted = client.delete(f"/api/documents/{document_id}")
    assert deleted.status_code == 204
    assert not Document.objects.filter(pk=document_id).exists()
    assert client.get(f"/api/documents/{document_id}").status_code == 404


def test_a_failed_document_says_why(client, policies):
    upload = SimpleUploadedFile(
        "broken.pdf", b"%PDF-1.7 this is not really a pdf", "application/pdf"
    )
    created = client.post("/api/corpora/policies/documents", {"files": [upload]}).json()
    document_id = created["results"][0]["document"]["id"]
    document_services.document_ingest(document_id=document_id)
    status = client.get(f"/api/documents/{document_id}").json()
    assert status["status"] == "failed"
    assert status["error"]
    assert "Traceback" not in status["error"]


def test_a_multipart_body_without_boundary_is_a_400(client, policies):
    response = client.generic(
        "POST", "/api/corpora/policies/documents", b"--x\r\n", content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_uploading_only_duplicates_is_200(client, policies):
    upload = SimpleUploadedFile("again.md", MEALS.encode())
    response = client.post("/api/corpora/policies/documents", {"files": [upload]})
    assert response.status_code == 200
    assert response.json()["duplicates"] == 1


def test_an_upload_without_files_names_the_field(client, policies):
    response = client.post("/api/corpora/policies/documents", {})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["field"] == "files"
    assert error["retryable"] is False


# --- asking ---------------------------------------------------------------------------------------


def test_ask_answers_in_json_and_continues_the_conversation(client, plaintext, policies):
    first = ask(client, "How much is the meal allowance abroad?")
    assert first.status_code == 200
    answer = first.json()
    assert answer["status"] == "complete"
    assert "45 euros" in answer["answer"]
    assert answer["citations"][0]["document"] == "meals.md"
    assert answer["citations"][0]["quote"]
    assert answer["strategy"] == "manual_retrieval"
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
    assert response["Cache-Control"] == "no-cache"
    names = stream.names()
    assert names[0] == "start"
    assert names[-1] == "done"
    assert {"delta", "citation"} <= set(names)
    start = stream.named("start")[0]
    assert set(start) == {"conversation_id", "question_id", "strategy"}
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
        ({"question": "a\x00b"}, 422, "question", "NUL"),
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


class FailingStrategy:
    label = "Failing for tests"
    index_backend = "pgvector"
    admin_notice = ""
    retryable = True

    def __init__(self, *, key: str) -> None:
        self.key = key

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        yield TextDelta("Partly ")
        raise StrategyError(
            "The language model server is rate-limiting requests right now. Wait a minute.",
            retryable=self.retryable,
            code="rate_limited" if self.retryable else "misconfigured",
        )


class BrokenStrategy(FailingStrategy):
    retryable = False


@pytest.fixture
def strategy(settings, policies):
    def use(cls) -> None:
        key = cls.__name__.lower()
        settings.CHAT_STRATEGIES = {
            **settings.CHAT_STRATEGIES,
            key: {"BACKEND": f"tests.api.test_rest.{cls.__name__}"},
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


def test_a_failed_streamed_answer_ends_with_the_web_uis_error_event(plaintext, strategy):
    strategy(FailingStrategy)
    _, stream = asyncio.run(_stream(plaintext, {"question": "Meals?", "stream": True}))
    assert stream.names() == ["start", "delta", "error"]
    error = stream.named("error")[0]
    assert error["retryable"] is True
    assert error["code"] == "rate_limited"
    assert error["answer"] == "Partly "


# --- conversations --------------------------------------------------------------------------------


def test_conversations_list_get_and_delete(client, people, policies):
    first = ask(client, "How much is the meal allowance abroad?").json()
    ask(client, "And the receipts?", conversation_id=first["conversation_id"])
    second = ask(client, "Where do cars go?").json()
    # Someone else's conversation is not listed.
    api_client(token_for(people.reader)).post(
        "/api/corpora/policies/ask",
        json.dumps({"question": "Meals?"}),
        content_type="application/json",
    )

    listing = client.get("/api/conversations").json()
    assert listing["count"] == 2
    assert {c["id"] for c in listing["items"]} == {
        first["conversation_id"],
        second["conversation_id"],
    }
    assert listing["items"][0]["corpus"] == "policies"
    assert client.get("/api/conversations", {"corpus": "other"}).json()["count"] == 0
    assert (
        client.get("/api/conversations", {"limit": 1}).json()["items"][0]["id"]
        == (second["conversation_id"])
    )

    detail = client.get(f"/api/conversations/{first['conversation_id']}").json()
    assert detail["title"] == "How much is the meal allowance abroad?"
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant", "user", "assistant"]
    assert detail["messages"][1]["citations"][0]["document"] == "meals.md"
    assert detail["messages"][1]["status"] == "complete"

    assert client.delete(f"/api/conversations/{first['conversation_id']}").status_code == 204
    assert client.get(f"/api/conversations/{first['conversation_id']}").status_code == 404
    assert client.get("/api/conversations").json()["count"] == 1
    assert not ApiConversation.objects.filter(conversation_id=first["conversation_id"]).exists()


# --- errors, limits, schema -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/corpora/policies/search", "q"),
        ("/api/corpora/policies/search?q=x&k=0", "k"),
        ("/api/corpora/policies/search?q=x&k=101", "k"),
        ("/api/corpora/policies/search?q=x&mode=magic", "mode"),
        ("/api/corpora/policies/documents?limit=0", "limit"),
        ("/api/corpora/policies/documents?status=lost", "status"),
        ("/api/corpora/bad%20slug/documents", "slug"),
        ("/api/documents/0", "document_id"),
    ],
)
def test_validation_errors_name_the_field(client, policies, url, field):
    response = client.get(url)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["field"] == field
    assert error["message"]
    assert error["retryable"] is False


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


def test_the_rate_limit_answers_429_with_retry_after(client, settings, policies):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    assert client.get("/api/corpora").status_code == 200
    assert client.get("/v1/models").status_code == 200
    response = client.get("/api/corpora")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["retryable"] is True
    assert f"Wait {response['Retry-After']} seconds" in error["message"]
    openai = client.get("/v1/models")
    assert openai.status_code == 429
    assert openai["Retry-After"]
    assert openai.json()["error"]["code"] == "rate_limit_exceeded"
    # Other tokens have their own budget.
    other = api_client(token_for(ApiToken.objects.get().user))
    assert other.get("/api/corpora").status_code == 200


def test_unknown_paths_and_methods_answer_in_each_apis_error_shape(client):
    rest = client.post("/api/nowhere", {})
    assert rest.status_code == 404
    assert rest.json()["error"]["code"] == "not_found"
    openai = client.get("/v1/engines")
    assert openai.status_code == 404
    assert set(openai.json()["error"]) == {"message", "type", "param", "code"}
    wrong = client.put("/api/corpora")
    assert wrong.status_code == 405
    assert wrong["Allow"] == "GET"
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    wrong = client.get("/v1/chat/completions")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["type"] == "invalid_request_error"


def test_the_api_root_points_to_the_docs(client):
    assert client.get("/api/").json()["docs"] == "http://testserver/api/docs"


def test_the_schema_and_its_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "Docent API"
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    assert "/api/corpora/{slug}/ask" in schema["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert '"validatorUrl": null' in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-init.js"):
        response = client.get(f"/static/ninja/{asset}")
        assert response.status_code == 200, asset

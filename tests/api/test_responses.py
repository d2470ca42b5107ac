"""/v1/responses in process: OpenAI's wire shapes (checked against openapi.yaml), the streamed
event sequence, previous_response_id chains, storage and access. test_responses_sdk.py drives
the same endpoints with the official SDKs over HTTP."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import AsyncClient

from api.models import ApiConversation, ApiInterface, ApiResponse
from chat.models import Conversation, MessageRole
from tests.api.conftest import api_client, make_corpora, make_people, parse_sse, token_for
from tests.fakes.spec_check import checker

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How much is the meal allowance abroad?"


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def corpora(people):
    return make_corpora(people)


@pytest.fixture
def policies(corpora):
    return corpora[0]


@pytest.fixture
def plaintext(people, policies):
    return token_for(people.reader)


@pytest.fixture
def client(plaintext):
    return api_client(plaintext)


def create(client, **body):
    body.setdefault("model", "policies")
    body.setdefault("input", QUESTION)
    return client.post("/v1/responses", json.dumps(body), content_type="application/json")


async def _stream(plaintext: str, body: dict):
    response = await AsyncClient().post(
        "/v1/responses",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {plaintext}"},
    )
    chunks = [chunk async for chunk in response.streaming_content]
    return response, "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)


def stream(plaintext, **body):
    body.setdefault("model", "policies")
    body.setdefault("input", QUESTION)
    return asyncio.run(_stream(plaintext, {**body, "stream": True}))


def spec_problems(method, path, status, body=None, events=None):
    return checker().check_exchange(method, path, status, body=body, events=events)


# --- a whole response -----------------------------------------------------------------------------


def test_a_response_has_openais_shape_with_cited_text_and_usage(client, policies, people):
    reply = create(client, instructions="Answer briefly.", metadata={"ticket": "42"})
    assert reply.status_code == 200, reply.content
    body = reply.json()
    assert spec_problems("POST", "/v1/responses", 200, body) == []
    assert body["object"] == "response"
    assert body["id"].startswith("resp_")
    assert body["status"] == "completed"
    assert body["model"] == "policies"
    assert body["instructions"] == "Answer briefly."
    assert body["metadata"] == {"ticket": "42"}
    assert body["conversation"] is None
    assert body["previous_response_id"] is None
    (item,) = body["output"]
    assert item["type"] == "message"
    assert item["role"] == "assistant"
    assert item["status"] == "completed"
    (part,) = item["content"]
    assert part["type"] == "output_text"
    text = part["text"]
    assert "45 euros" in text
    assert "\n\nSources:\n[1] meals.md, p. 1" in text
    annotation = part["annotations"][0]
    assert annotation["type"] == "file_citation"
    assert annotation["filename"] == "meals.md"
    assert annotation["page"] == 1
    document = policies.documents.get(filename="meals.md")
    assert annotation["file_id"] == f"file-docent-{document.pk}"
    assert annotation["document_id"] == document.pk
    # Just after the first [1] marker, where OpenAI anchors a citation.
    assert text[: annotation["index"]].endswith("[1]")
    assert annotation["url"].endswith(f"/c/policies/documents/{document.pk}/?page=1"), annotation[
        "url"
    ]
    usage = body["usage"]
    # In process the answer is extractive (no model, no tokens); test_responses_sdk.py sees
    # the fake model's counts.
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_tokens_details"] == {"cached_tokens": 0}
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}

    # A turn of a Docent conversation of the token's user, credited to the token.
    conversation = Conversation.objects.get()
    assert conversation.user == people.reader
    assert reply["X-Docent-Conversation-Id"] == str(conversation.pk)
    assert ApiConversation.objects.get(conversation=conversation).interface == ApiInterface.OPENAI
    question, answer = conversation.messages.order_by("id")
    assert question.content == QUESTION
    assert answer.prompt_tokens == usage["input_tokens"]
    stored = ApiResponse.objects.get()
    assert stored.answer == answer
    assert stored.token.user == people.reader


def test_input_items_are_history_and_the_last_user_item_is_the_question(client, policies):
    reply = create(
        client,
        input=[
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "What is the meal allowance?"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Up to 45 euros a day [1]."}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": QUESTION}],
            },
        ],
    )
    assert reply.status_code == 200, reply.content
    conversation = Conversation.objects.get()
    assert [(m.role, m.content) for m in conversation.messages.order_by("id")][:3] == [
        (MessageRole.USER, "What is the meal allowance?"),
        (MessageRole.ASSISTANT, "Up to 45 euros a day [1]."),
        (MessageRole.USER, QUESTION),
    ]
    response_id = reply.json()["id"]
    items = client.get(f"/v1/responses/{response_id}/input_items?order=asc").json()
    assert spec_problems("GET", f"/v1/responses/{response_id}/input_items", 200, items) == []
    assert [item["role"] for item in items["data"]] == ["system", "user", "assistant", "user"]
    assert items["data"][0]["content"] == [{"type": "input_text", "text": "Be terse."}]
    assert items["data"][2]["content"][0]["type"] == "output_text"
    assert items["has_more"] is False
    newest_first = client.get(f"/v1/responses/{response_id}/input_items?limit=2").json()
    assert [item["role"] for item in newest_first["data"]] == ["user", "assistant"]
    assert newest_first["has_more"] is True
    rest = client.get(
        f"/v1/responses/{response_id}/input_items?limit=2&after={newest_first['last_id']}"
    ).json()
    assert [item["role"] for item in rest["data"]] == ["user", "system"]


def test_a_response_can_be_retrieved_and_deleted_by_its_owner_only(client, people, policies):
    body = create(client).json()
    again = client.get(f"/v1/responses/{body['id']}")
    assert again.status_code == 200
    assert again.json() == body
    assert spec_problems("GET", f"/v1/responses/{body['id']}", 200, again.json()) == []

    for other in (people.manager, people.outsider):  # another member, an outsider
        stranger = api_client(token_for(other))
        assert stranger.get(f"/v1/responses/{body['id']}").status_code == 404
        assert stranger.delete(f"/v1/responses/{body['id']}").status_code == 404

    deleted = client.delete(f"/v1/responses/{body['id']}")
    assert deleted.json() == {"id": body["id"], "object": "response", "deleted": True}
    missing = client.get(f"/v1/responses/{body['id']}")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"Response with id '{body['id']}' not found."
    # The turn stays in the user's conversation.
    assert Conversation.objects.get().messages.count() == 2


def test_store_false_answers_but_keeps_no_retrievable_response(client, policies):
    body = create(client, store=False).json()
    assert body["store"] is False
    assert body["status"] == "completed"
    assert client.get(f"/v1/responses/{body['id']}").status_code == 404
    follow = create(client, input="And receipts?", previous_response_id=body["id"])
    assert follow.status_code == 400
    assert follow.json()["error"]["param"] == "previous_response_id"
    assert follow.json()["error"]["code"] == "previous_response_not_found"


def test_a_document_uploaded_through_v1_files_is_cited_by_its_upload_id(client, people, policies):
    from django.core.files.base import ContentFile

    from api.assistants.models import ApiFile

    document = policies.documents.get(filename="meals.md")
    upload = ApiFile.objects.create(
        user=people.reader, filename="meals.md", purpose="assistants", bytes=10,
        file=ContentFile(b"x", name="meals.md"),
    )  # fmt: skip
    upload.documents.add(document)
    body = create(client).json()
    annotation = body["output"][0]["content"][0]["annotations"][0]
    assert annotation["file_id"] == upload.public_id
    assert annotation["document_id"] == document.pk


# --- previous_response_id -------------------------------------------------------------------------


def test_previous_response_id_continues_the_same_conversation(client, policies):
    first = create(client).json()
    second = create(
        client, input="When must receipts be uploaded?", previous_response_id=first["id"]
    ).json()
    assert second["previous_response_id"] == first["id"]
    assert second["status"] == "completed"
    conversation = Conversation.objects.get()
    assert [m.content for m in conversation.messages.order_by("id") if m.role == "user"] == [
        QUESTION,
        "When must receipts be uploaded?",
    ]
    assert "thirty days" in second["output"][0]["content"][0]["text"]


def test_a_branching_chain_starts_a_new_conversation_with_the_earlier_turns(client, policies):
    first = create(client).json()
    create(client, input="When must receipts be uploaded?", previous_response_id=first["id"])
    branch = create(client, input="And in Germany?", previous_response_id=first["id"]).json()
    assert branch["status"] == "completed"
    original, copy = Conversation.objects.order_by("id")
    assert original.messages.count() == 4
    assert [m.content for m in copy.messages.order_by("id")][:1] == [QUESTION]
    assert [m.content for m in copy.messages.order_by("id") if m.role == "user"] == [
        QUESTION,
        "And in Germany?",
    ]


def test_a_previous_response_of_someone_else_is_not_found(client, people, policies):
    theirs = create(api_client(token_for(people.manager))).json()
    reply = create(client, previous_response_id=theirs["id"])
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "previous_response_not_found"
    assert error["message"] == f"Previous response with id '{theirs['id']}' not found."


# --- bad requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "secret"}, "model"),
        ({"input": []}, "input"),
        ({"input": [{"role": "assistant", "content": "Hello"}]}, "input"),
        ({"input": [{"role": "wizard", "content": "Hi"}]}, "input[0].role"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
            "input[0].content[0]",
        ),
        (
            {"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]},
            "input[0].type",
        ),
        ({"tools": [{"type": "function", "name": "f", "parameters": {}}]}, "tools[0].type"),
        ({"text": {"format": {"type": "json_object"}}}, "text.format.type"),
        ({"temperature": "hot"}, "temperature"),
        ({"stream_options": {"include_obfuscation": False}}, "stream_options"),
        ({"metadata": {"k": 1}}, "metadata.k"),
        ({"conversation": "conv_docent999999"}, "conversation"),
    ],
)
def test_bad_requests_are_400s_or_404s_naming_the_parameter(client, policies, body, param):
    reply = create(client, **body)
    assert reply.status_code in (400, 404), reply.content
    error = reply.json()["error"]
    assert error["param"] == param, error
    assert error["message"]
    assert spec_problems("POST", "/v1/responses", reply.status_code, reply.json()) == []
    assert not ApiResponse.objects.exists()


def test_previous_response_id_and_conversation_are_mutually_exclusive(client, policies):
    first = create(client).json()
    reply = create(client, previous_response_id=first["id"], conversation="conv_docent1")
    assert reply.status_code == 400
    assert "Mutually exclusive" in reply.json()["error"]["message"]


def test_a_file_search_tool_is_accepted_and_echoed(client, policies):
    tool = {"type": "file_search", "vector_store_ids": ["policies"]}
    body = create(client, tools=[tool]).json()
    assert body["status"] == "completed"
    assert body["tools"] == [tool]


# --- streaming ------------------------------------------------------------------------------------

SEQUENCE_HEAD = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
]
SEQUENCE_TAIL = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_a_stream_has_openais_event_sequence_and_numbers(plaintext, policies):
    response, body = stream(plaintext)
    assert response["Content-Type"].startswith("text/event-stream")
    events = parse_sse(body).events
    assert spec_problems("POST", "/v1/responses", 200, events=events) == []
    kinds = [name for name, _ in events]
    assert kinds[:4] == SEQUENCE_HEAD
    assert kinds[-4:] == SEQUENCE_TAIL
    middle = kinds[4:-4]
    assert "response.output_text.delta" in middle
    assert "response.output_text.annotation.added" in middle
    assert set(middle) == {"response.output_text.delta", "response.output_text.annotation.added"}
    assert "[DONE]" not in body
    # Every event names its type, numbered from 0 without gaps.
    assert [data["type"] for _, data in events] == kinds
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))

    created = events[0][1]["response"]
    assert created["status"] == "in_progress"
    assert created["output"] == []
    assert created["usage"] is None
    item_ids = {data["item_id"] for name, data in events if "item_id" in data}
    assert len(item_ids) == 1
    deltas = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    done = next(d for n, d in events if n == "response.output_text.done")
    assert deltas == done["text"]
    assert "\n\nSources:\n[1] meals.md, p. 1" in done["text"]
    annotations = [d for n, d in events if n == "response.output_text.annotation.added"]
    assert [a["annotation_index"] for a in annotations] == list(range(len(annotations)))
    assert annotations[0]["annotation"]["filename"] == "meals.md"

    completed = events[-1][1]["response"]
    assert completed["status"] == "completed"
    assert completed["id"] == created["id"]
    assert completed["usage"]["total_tokens"] >= 0
    (message,) = completed["output"]
    assert message["id"] in item_ids
    assert message["content"][0]["text"] == done["text"]
    assert message["content"][0]["annotations"] == [a["annotation"] for a in annotations]
    # What the stream ended with is what GET answers.
    client = api_client(plaintext)
    assert client.get(f"/v1/responses/{created['id']}").json() == completed


def _recorded(name: str, path: str):
    from tests.fakes.spec_check import RECORDINGS_DIR

    recording = RECORDINGS_DIR / f"{name}.json"
    if not recording.exists():
        pytest.skip(f"OpenAI recordings not found at {RECORDINGS_DIR}")
    entries = json.loads(recording.read_text())["Entries"]
    return next(e for e in entries if e["RequestUri"].endswith(path))["ResponseBody"]


def test_the_wire_has_the_fields_of_openais_recorded_traffic(client, plaintext, policies):
    whole = _recorded("ResponsesTests__ResponseUsingConversations", "/v1/responses")
    body = create(client).json()
    assert list(body) == list(whole)  # the same fields, in the same order
    assert list(body["output"][0]) == list(whole["output"][0])
    assert list(body["usage"]) == list(whole["usage"])

    recorded: dict[str, list[str]] = {}
    for line in _recorded("ResponsesToolTests__FileSearchCallStreaming", "/v1/responses"):
        if line.startswith("data: "):
            event = json.loads(line[len("data: ") :])
            recorded.setdefault(event["type"], list(event))
            if event["type"] == "response.output_text.annotation.added":
                recorded_annotation = event["annotation"]
    _, streamed = stream(plaintext)
    for name, data in parse_sse(streamed).events:
        assert sorted(data) == sorted(recorded[name]), name
        if name == "response.output_text.annotation.added":
            # OpenAI's fields, then Docent's own.
            assert list(data["annotation"])[: len(recorded_annotation)] == list(recorded_annotation)


def test_obfuscation_can_be_turned_off_as_at_openai(plaintext, policies):
    _, body = stream(plaintext, stream_options={"include_obfuscation": False})
    deltas = [d for n, d in parse_sse(body).events if n == "response.output_text.delta"]
    assert deltas
    assert all("obfuscation" not in delta for delta in deltas)


def test_a_failed_stream_ends_with_response_failed(plaintext, policies, settings):
    settings.CHAT_STRATEGIES = {
        **settings.CHAT_STRATEGIES,
        "failing": {"BACKEND": "tests.api.strategies.FailingStrategy"},
    }
    policies.chat_strategy = "failing"
    policies.save(update_fields=["chat_strategy"])
    _, body = stream(plaintext)
    events = parse_sse(body).events
    kinds = [name for name, _ in events]
    assert kinds[:4] == SEQUENCE_HEAD
    assert kinds[-1] == "response.failed"
    failed = events[-1][1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "rate_limit_exceeded"
    assert "Wait a minute." in failed["error"]["message"]
    assert spec_problems("POST", "/v1/responses", 200, events=events) == []
    assert ApiResponse.objects.get().status == "failed"


def test_a_failed_answer_without_stream_is_a_server_error(client, policies, settings):
    settings.CHAT_STRATEGIES = {
        **settings.CHAT_STRATEGIES,
        "failing": {"BACKEND": "tests.api.strategies.FailingStrategy"},
    }
    policies.chat_strategy = "failing"
    policies.save(update_fields=["chat_strategy"])
    reply = create(client)
    assert reply.status_code == 503
    assert reply["x-should-retry"] == "true"
    stored = ApiResponse.objects.get()
    assert client.get(f"/v1/responses/{stored.public_id}").json()["status"] == "failed"

"""The fake OpenAI server driven through the official `openai` SDK, endpoint by endpoint."""

from __future__ import annotations

import base64
import json
import math
import struct
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.spec_check import checker

REPO_ROOT = Path(__file__).resolve().parents[2]

DRILL = (
    "The X200 drill has a warranty of 24 months. The X200 drill weighs 1.8 kilograms.\n"
    "Its battery charges in 45 minutes."
)
SAW = "The Z9 saw has a warranty of 12 months. The Z9 saw weighs 3.2 kilograms."


@pytest.fixture(autouse=True)
def _answers_have_spec_required_fields(fake_openai: FakeOpenAIServer) -> Iterator[None]:
    """Every JSON answer (and SSE event) a test got carries the fields openapi.yaml requires."""
    yield
    problems = []
    for recorded in fake_openai.requests:
        if recorded.status is None:
            continue
        problems += checker().check_exchange(
            recorded.method, recorded.path, recorded.status, recorded.response, recorded.events
        )
    assert problems == []


@pytest.fixture
def client(fake_openai: FakeOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)


@pytest.fixture(autouse=True)
def _quiet_assistants_deprecation() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def upload(client: openai.OpenAI, name: str, text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return client.files.create(file=(name, data), purpose="assistants").id


def indexed_store(client: openai.OpenAI, files: dict[str, str]) -> tuple[str, dict[str, str]]:
    store = client.vector_stores.create(name="docs")
    ids = {}
    for number, (name, text) in enumerate(files.items(), start=1):
        ids[name] = upload(client, name, text)
        done = client.vector_stores.files.create_and_poll(
            ids[name],
            vector_store_id=store.id,
            attributes={"docent_document_id": str(number)},
            poll_interval_ms=1,
        )
        assert done.status == "completed"
    return store.id, ids


def raw_request(
    server: FakeOpenAIServer, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - a loopback URL
        server.url + path, data=body, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


# --- files ----------------------------------------------------------------------------------------


def test_files_upload_list_retrieve_content_and_delete(client: openai.OpenAI) -> None:
    first = client.files.create(file=("a.txt", b"alpha"), purpose="assistants")
    second = client.files.create(file=("你好.txt", "bêta".encode()), purpose="user_data")

    assert first.id.startswith("file-")
    assert len(first.id) == 27
    assert (first.filename, first.bytes, first.status) == ("a.txt", 5, "processed")
    assert second.filename == "你好.txt"
    assert [f.id for f in client.files.list()] == [second.id, first.id]
    assert [f.id for f in client.files.list(purpose="assistants")] == [first.id]
    assert [f.id for f in client.files.list(order="asc", limit=1).data] == [first.id]
    assert client.files.retrieve(first.id).id == first.id
    assert client.files.content(first.id).content == b"alpha"
    assert client.files.delete(first.id).deleted is True
    with pytest.raises(openai.NotFoundError) as raised:
        client.files.retrieve(first.id)
    assert raised.value.body["message"] == f"No such File object: {first.id}"


def test_requests_are_recorded_with_bodies_and_headers(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    client.files.create(file=("a.txt", b"alpha"), purpose="assistants")
    client.vector_stores.create(name="kb", metadata={"corpus": "7"})

    upload_request, store_request = fake_openai.requests
    assert upload_request.body == {"purpose": "assistants"}
    assert upload_request.uploads["file"].data == b"alpha"
    assert upload_request.headers["authorization"] == "Bearer test"
    assert store_request.body == {"name": "kb", "metadata": {"corpus": "7"}}
    assert fake_openai.requests_to("POST", r"/vector_stores$") == [store_request]


def test_a_missing_or_wrong_api_key_is_a_401(fake_openai: FakeOpenAIServer) -> None:
    status, body = raw_request(fake_openai, "GET", "/v1/models", None, {})
    assert status == 401
    assert set(body["error"]) == {"message", "type", "param", "code"}

    fake_openai.require_api_key = "sk-right"
    wrong = openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.models.list()
    assert raised.value.code == "invalid_api_key"
    right = openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-right", max_retries=0)
    assert right.models.list().data


def test_bad_requests_get_openai_style_errors(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(input="hi", extra_body={"model": None})  # type: ignore[call-overload]
    assert raised.value.param == "model"
    assert raised.value.code == "missing_required_parameter"
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve("vs_missing")
    status, body = raw_request(
        fake_openai, "POST", "/v1/chat/completions", b"{not json", {"Authorization": "Bearer t"}
    )
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    status, body = raw_request(
        fake_openai, "GET", "/v1/nowhere", None, {"Authorization": "Bearer t"}
    )
    assert (status, body["error"]["message"]) == (404, "Invalid URL (GET /v1/nowhere)")


# --- vector stores --------------------------------------------------------------------------------


def test_create_and_poll_reaches_completed_honouring_the_poll_header(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.poll_after_ms = "7"
    slept: list[float] = []
    monkeypatch.setattr(client.vector_stores.files, "_sleep", slept.append)
    store = client.vector_stores.create()
    file_id = upload(client, "manual.txt", DRILL)

    done = client.vector_stores.files.create_and_poll(
        file_id, vector_store_id=store.id, attributes={"docent_document_id": "42"}
    )

    assert (done.id, done.status, done.last_error) == (file_id, "completed", None)
    assert done.attributes == {"docent_document_id": "42"}
    assert done.usage_bytes == len(DRILL.encode())
    assert slept == [0.007]
    polls = fake_openai.requests_to("GET", rf"/vector_stores/{store.id}/files/{file_id}$")
    assert len(polls) == 2
    assert polls[0].headers["x-stainless-poll-helper"] == "true"
    assert client.vector_stores.retrieve(store.id).file_counts.completed == 1


def test_vector_stores_crud_and_pagination(client: openai.OpenAI) -> None:
    created = [client.vector_stores.create(name=f"s{i}") for i in range(3)]
    unnamed = client.vector_stores.create(expires_after={"anchor": "last_active_at", "days": 2})
    assert unnamed.name is None
    assert unnamed.expires_at == unnamed.last_active_at + 2 * 86400

    first = client.vector_stores.list(limit=2)
    assert [s.id for s in first.data] == [unnamed.id, created[2].id]
    assert first.has_more is True
    rest = client.vector_stores.list(limit=2, after=first.data[-1].id)
    assert [s.id for s in rest.data] == [created[1].id, created[0].id]
    assert rest.has_more is False
    assert [s.id for s in client.vector_stores.list(order="asc", before=created[2].id)] == [
        created[0].id,
        created[1].id,
    ]
    renamed = client.vector_stores.update(created[0].id, name="renamed", metadata={"k": "v"})
    assert (renamed.name, renamed.metadata) == ("renamed", {"k": "v"})
    assert client.vector_stores.delete(created[0].id).object == "vector_store.deleted"
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(created[0].id)


def test_vector_store_files_filter_update_and_delete(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    store_id, ids = indexed_store(client, {"drill.txt": DRILL, "saw.txt": SAW})
    pending = client.vector_stores.files.create(
        vector_store_id=store_id, file_id=upload(client, "later.txt", "later")
    )
    assert pending.status == "in_progress"

    completed = client.vector_stores.files.list(vector_store_id=store_id, filter="completed")
    assert {f.id for f in completed} == set(ids.values())
    updated = client.vector_stores.files.update(
        ids["saw.txt"], vector_store_id=store_id, attributes={"docent_document_id": "99"}
    )
    assert updated.attributes == {"docent_document_id": "99"}
    gone = client.vector_stores.files.delete(ids["saw.txt"], vector_store_id=store_id)
    assert (gone.id, gone.object, gone.deleted) == (
        ids["saw.txt"],
        "vector_store.file.deleted",
        True,
    )
    content = client.vector_stores.files.content(ids["drill.txt"], vector_store_id=store_id)
    assert "".join(part.text or "" for part in content) == DRILL


def test_file_batches_create_poll_list_and_cancel(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    store = client.vector_stores.create()
    file_ids = [upload(client, f"f{i}.txt", f"document number {i}") for i in range(3)]

    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=file_ids, attributes={"docent_document_id": "1"}
    )

    assert batch.id.startswith("vsfb_")
    assert batch.object == "vector_store.file_batch"
    assert (batch.status, batch.file_counts.completed, batch.file_counts.total) == (
        "completed",
        3,
        3,
    )
    listed = client.vector_stores.file_batches.list_files(
        batch.id, vector_store_id=store.id, limit=2
    )
    assert len(listed.data) == 2
    assert listed.has_more is True
    assert {f.attributes["docent_document_id"] for f in listed.data} == {"1"}

    other = client.vector_stores.file_batches.create(
        vector_store_id=store.id,
        files=[
            {"file_id": upload(client, "x.txt", "x"), "attributes": {"docent_document_id": "8"}}
        ],
    )
    assert other.status == "in_progress"
    cancelled = client.vector_stores.file_batches.cancel(other.id, vector_store_id=store.id)
    assert (cancelled.status, cancelled.file_counts.cancelled) == ("cancelled", 1)


def test_files_set_to_fail_end_failed_with_last_error(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.fail_file_processing("broken-*.txt", code="invalid_file", message="Cannot parse.")
    store = client.vector_stores.create()

    broken = client.vector_stores.files.create_and_poll(
        upload(client, "broken-1.txt", "x"), vector_store_id=store.id, poll_interval_ms=1
    )
    image = client.vector_stores.files.create_and_poll(
        upload(client, "photo.png", b"\x89PNG"), vector_store_id=store.id, poll_interval_ms=1
    )

    assert broken.status == "failed"
    assert broken.last_error is not None
    assert (broken.last_error.code, broken.last_error.message) == ("invalid_file", "Cannot parse.")
    assert image.last_error is not None
    assert image.last_error.code == "unsupported_file"
    assert client.vector_stores.retrieve(store.id).file_counts.failed == 2


def test_pdf_text_is_extracted_and_searchable(client: openai.OpenAI) -> None:
    store = client.vector_stores.create()
    pdf = _minimal_pdf("The turbine needs service every 400 hours.")
    file_id = upload(client, "turbine.pdf", pdf)

    done = client.vector_stores.files.create_and_poll(
        file_id, vector_store_id=store.id, poll_interval_ms=1
    )

    assert done.status == "completed"
    results = client.vector_stores.search(store.id, query="turbine service interval")
    assert [r.file_id for r in results] == [file_id]
    assert "400 hours" in results.data[0].content[0].text


def _minimal_pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 20 200 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_search_ranks_the_right_file_and_applies_filters(client: openai.OpenAI) -> None:
    store_id, ids = indexed_store(client, {"drill.txt": DRILL, "saw.txt": SAW})

    page = client.vector_stores.search(store_id, query="How much does the Z9 saw weigh?")
    assert page.data[0].file_id == ids["saw.txt"]
    assert page.data[0].filename == "saw.txt"
    assert page.data[0].attributes == {"docent_document_id": "2"}
    assert all(0 < r.score <= 1 for r in page.data)
    assert page.data[0].score > page.data[-1].score

    only_drill = client.vector_stores.search(
        store_id,
        query="warranty",
        filters={"type": "eq", "key": "docent_document_id", "value": "1"},
    )
    assert [r.file_id for r in only_drill] == [ids["drill.txt"]]
    either = client.vector_stores.search(
        store_id,
        query=["warranty", "kilograms"],
        filters={
            "type": "or",
            "filters": [
                {"type": "in", "key": "docent_document_id", "value": ["1", "2"]},
                {"type": "gt", "key": "missing", "value": 3},
            ],
        },
        max_num_results=1,
        rewrite_query=True,
    )
    assert len(either.data) == 1
    assert client.vector_stores.search(store_id, query="bananas").data == []


# --- Responses and Conversations ------------------------------------------------------------------


def test_responses_file_search_answers_with_citations(client: openai.OpenAI) -> None:
    store_id, ids = indexed_store(client, {"saw.txt": SAW, "drill.txt": DRILL})

    response = client.responses.create(
        model="gpt-4o-mini",
        input="How long is the warranty on the X200 drill?",
        instructions="Answer from the files.",
        tools=[{"type": "file_search", "vector_store_ids": [store_id], "max_num_results": 5}],
        include=["file_search_call.results"],
    )

    call, message = response.output
    assert call.type == "file_search_call"
    assert call.id.startswith("fs_")
    assert call.results
    assert call.results[0].file_id == ids["drill.txt"]
    assert call.results[0].attributes == {"docent_document_id": "2"}
    assert response.output_text == (
        "According to drill.txt, the X200 drill has a warranty of 24 months."
    )
    assert message.type == "message"
    annotation = message.content[0].annotations[0]  # type: ignore[union-attr]
    assert (annotation.type, annotation.file_id, annotation.filename) == (  # type: ignore[union-attr]
        "file_citation",
        ids["drill.txt"],
        "drill.txt",
    )
    assert annotation.index == len(response.output_text) - 1  # type: ignore[union-attr]
    assert response.usage is not None
    assert response.usage.output_tokens == 12
    assert response.instructions == "Answer from the files."
    assert client.responses.retrieve(response.id).output_text == response.output_text
    items = client.responses.input_items.list(response.id)
    assert [i.type for i in items] == ["message"]
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_responses_without_a_match_say_so_without_citations(client: openai.OpenAI) -> None:
    store_id, _ = indexed_store(client, {"drill.txt": DRILL})
    response = client.responses.create(
        model="gpt-4o-mini",
        input="What is the capital of Peru?",
        tools=[{"type": "file_search", "vector_store_ids": [store_id]}],
    )
    assert response.output_text == "I could not find that in the provided files."
    assert response.output[1].content[0].annotations == []  # type: ignore[union-attr]
    assert response.output[0].results is None  # type: ignore[union-attr]


RESPONSE_STREAM = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.file_search_call.in_progress",
    "response.file_search_call.searching",
    "response.file_search_call.completed",
    "response.output_item.done",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.annotation.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def collapse(kinds: list[str]) -> list[str]:
    return [kind for i, kind in enumerate(kinds) if i == 0 or kind != kinds[i - 1]]


def test_responses_stream_follows_the_wire_event_order(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    store_id, ids = indexed_store(client, {"drill.txt": DRILL})

    events = list(
        client.responses.create(
            model="gpt-4o-mini",
            input="How much does the X200 drill weigh?",
            tools=[{"type": "file_search", "vector_store_ids": [store_id]}],
            include=["file_search_call.results"],
            stream=True,
        )
    )

    assert collapse([e.type for e in events]) == RESPONSE_STREAM
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "According to drill.txt, the X200 drill weighs 1.8 kilograms."
    assert sum(e.type == "response.output_text.delta" for e in events) > 5
    (added,) = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert added.annotation.file_id == ids["drill.txt"]  # type: ignore[attr-defined]
    assert events[0].response.usage is None  # type: ignore[union-attr]
    completed = events[-1].response  # type: ignore[union-attr]
    assert completed.output_text == deltas
    assert completed.usage is not None
    assert completed.output[0].results[0].file_id == ids["drill.txt"]  # type: ignore[union-attr]
    raw = fake_openai.requests_to("POST", "/responses$")[-1].events
    assert raw is not None
    assert raw[-1][0] == "response.completed"


def test_conversation_follow_up_is_answered_from_history(client: openai.OpenAI) -> None:
    # The saw comes first, so a question without history lands on it.
    store_id, ids = indexed_store(client, {"saw.txt": SAW, "drill.txt": DRILL})
    tools: Any = [{"type": "file_search", "vector_store_ids": [store_id]}]
    conversation = client.conversations.create(
        metadata={"docent_conversation_id": "5"},
        items=[{"type": "message", "role": "system", "content": "Cite the files."}],
    )

    client.responses.create(
        model="gpt-4o-mini",
        input="How long is the warranty on the X200 drill?",
        tools=tools,
        conversation=conversation.id,
    )
    follow_up = client.responses.create(
        model="gpt-4o-mini",
        input="What does it weigh?",
        tools=tools,
        conversation={"id": conversation.id},
    )
    alone = client.responses.create(model="gpt-4o-mini", input="What does it weigh?", tools=tools)

    assert follow_up.output_text == "According to drill.txt, the X200 drill weighs 1.8 kilograms."
    assert follow_up.conversation is not None
    assert follow_up.conversation.id == conversation.id
    assert "X200" in follow_up.output[0].queries[0]  # type: ignore[union-attr]
    assert "3.2 kilograms" in alone.output_text
    items = client.conversations.items.list(conversation.id, order="asc")
    assert [(i.type, getattr(i, "role", None)) for i in items] == [
        ("message", "system"),
        ("message", "user"),
        ("file_search_call", None),
        ("message", "assistant"),
        ("message", "user"),
        ("file_search_call", None),
        ("message", "assistant"),
    ]
    assert client.conversations.retrieve(conversation.id).metadata == {
        "docent_conversation_id": "5"
    }
    assert client.conversations.update(conversation.id, metadata={"a": "b"}).metadata == {"a": "b"}
    added = client.conversations.items.create(
        conversation.id, items=[{"type": "message", "role": "user", "content": "note"}]
    )
    item_id = added.data[0].id
    assert (
        client.conversations.items.retrieve(item_id, conversation_id=conversation.id).id == item_id
    )
    client.conversations.items.delete(item_id, conversation_id=conversation.id)
    deleted = client.conversations.delete(conversation.id)
    assert (deleted.object, deleted.deleted) == ("conversation.deleted", True)
    del ids


def test_previous_response_id_follow_up_needs_the_history(client: openai.OpenAI) -> None:
    store_id, _ = indexed_store(client, {"saw.txt": SAW, "drill.txt": DRILL})
    tools: Any = [{"type": "file_search", "vector_store_ids": [store_id]}]

    first = client.responses.create(
        model="gpt-4o-mini", input="Tell me about the X200 drill warranty.", tools=tools
    )
    second = client.responses.create(
        model="gpt-4o-mini", input="What does it weigh?", tools=tools, previous_response_id=first.id
    )

    alone = client.responses.create(model="gpt-4o-mini", input="What does it weigh?", tools=tools)

    assert second.previous_response_id == first.id
    assert "1.8 kilograms" in second.output_text
    assert "3.2 kilograms" in alone.output_text
    unstored = client.responses.create(model="gpt-4o-mini", input="hello", store=False)
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="gpt-4o-mini", input="and?", previous_response_id=unstored.id)
    assert raised.value.param == "previous_response_id"


def test_responses_without_tools_echo_and_show_history(client: openai.OpenAI) -> None:
    first = client.responses.create(model="any-model", input="Hello there")
    second = client.responses.create(
        model="any-model", input="Again", previous_response_id=first.id
    )

    assert first.output_text == 'This is a deterministic reply to: "Hello there".'
    assert second.output_text == (
        'This is a deterministic reply to: "Again" (previous question: "Hello there").'
    )
    assert first.model == "any-model"


# --- Assistants -----------------------------------------------------------------------------------

RUN_STREAM = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.run.step.delta",
    "thread.run.step.completed",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta",
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
]


def test_assistants_streamed_run_cites_with_markers(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    store_id, ids = indexed_store(client, {"saw.txt": SAW, "drill.txt": DRILL})
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        instructions="Answer from the files.",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}},
    )
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "How long is the X200 drill warranty?"}]
    )

    with client.beta.threads.runs.stream(
        thread_id=thread.id,
        assistant_id=assistant.id,
        include=["step_details.tool_calls[*].file_search.results[*].content"],
    ) as stream:
        kinds = [event.event for event in stream]
        (message,) = stream.get_final_messages()
        run = stream.get_final_run()

    assert collapse(kinds) == RUN_STREAM
    text = message.content[0].text  # type: ignore[union-attr]
    assert text.value == (
        "According to drill.txt, the X200 drill has a warranty of 24 months【4:0†drill.txt】."
    )
    (annotation,) = text.annotations
    assert text.value[annotation.start_index : annotation.end_index] == annotation.text
    assert annotation.file_citation.file_id == ids["drill.txt"]  # type: ignore[union-attr]
    assert run.status == "completed"
    assert run.usage is not None
    raw = fake_openai.requests_to("POST", "/runs$")[-1].events
    assert raw is not None
    assert raw[-1] == ("done", "[DONE]")

    client.beta.threads.messages.create(thread.id, role="user", content="And what does it weigh?")
    second = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=1
    )
    assert second.status == "completed"
    latest = client.beta.threads.messages.list(thread.id, order="desc", limit=1).data[0]
    assert "1.8 kilograms【6:0†drill.txt】" in latest.content[0].text.value  # type: ignore[union-attr]
    steps = client.beta.threads.runs.steps.list(
        second.id,
        thread_id=thread.id,
        include=["step_details.tool_calls[*].file_search.results[*].content"],
    )
    assert [s.type for s in steps] == ["message_creation", "tool_calls"]
    call = steps.data[1].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert call.file_search.results[0].content[0].text == DRILL  # type: ignore[union-attr]
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [second.id, run.id]
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.cancel(second.id, thread_id=thread.id)


def test_create_thread_and_run_streams_thread_created_first(client: openai.OpenAI) -> None:
    store_id, _ = indexed_store(client, {"drill.txt": DRILL})
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}])

    stream = client.beta.threads.create_and_run(
        assistant_id=assistant.id,
        thread={
            "messages": [{"role": "user", "content": "How heavy is the X200 drill?"}],
            "tool_resources": {"file_search": {"vector_store_ids": [store_id]}},
        },
        stream=True,
    )
    events = list(stream)

    assert events[0].event == "thread.created"
    assert events[-1].event == "thread.run.completed"
    assert events[-1].data.usage is not None  # type: ignore[union-attr]


def test_assistants_and_threads_crud(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", name="Docent")
    assert assistant.tool_resources is not None
    updated = client.beta.assistants.update(assistant.id, instructions="Be brief.")
    assert updated.instructions == "Be brief."
    assert [a.id for a in client.beta.assistants.list()] == [assistant.id]
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(thread.id, role="user", content="hi")
    assert client.beta.threads.messages.retrieve(message.id, thread_id=thread.id).id == message.id
    assert client.beta.threads.retrieve(thread.id).id == thread.id
    assert client.beta.threads.delete(thread.id).deleted is True
    assert client.beta.assistants.delete(assistant.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(assistant.id)


# --- Chat Completions -----------------------------------------------------------------------------

SOURCES = (
    "Answer with the sources below and cite them.\n\n"
    "[1] returns.txt\nReturns are accepted within 30 days.\n\n"
    "[2] warranty.txt\nThe warranty lasts 24 months. It covers parts.\n"
)


def test_chat_stream_with_usage_cites_the_best_source(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="local-model",
            messages=[
                {"role": "system", "content": SOURCES},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "How long is the warranty?"}],
                },
            ],
            stream=True,
            stream_options={"include_usage": True},
            temperature=0.2,
        )
    )

    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The warranty lasts 24 months [2]."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6
    assert all(c.usage is None for c in chunks[:-1])
    assert all(c.id.startswith("chatcmpl-") and c.model == "local-model" for c in chunks)
    raw = fake_openai.requests_to("POST", "/chat/completions$")[-1].events
    assert raw is not None
    assert raw[-1] == (None, "[DONE]")


def test_chat_without_sources_echoes_and_counts_tokens(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say something nice"}],
        max_completion_tokens=100,
    )
    assert completion.choices[0].message.content == (
        'This is a deterministic reply to: "Say something nice".'
    )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (3, 9)
    streamed = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(chunk.usage is None for chunk in streamed)


def test_queued_replies_are_returned_verbatim(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.queue_chat_reply("Invented [1] and [9].")
    fake_openai.queue_response_text("Queued answer.")
    store_id, _ = indexed_store(client, {"drill.txt": DRILL})

    chunks = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "q"}], stream=True
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    normal = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    response = client.responses.create(
        model="m", input="q", tools=[{"type": "file_search", "vector_store_ids": [store_id]}]
    )

    assert streamed == "Invented [1] and [9]."
    assert normal.choices[0].message.content != streamed
    assert response.output_text == "Queued answer."


# --- embeddings and models ------------------------------------------------------------------------


def test_embeddings_float_and_base64_agree(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    texts = ["The warranty lasts 24 months.", "How long does the warranty last?", "Bananas."]

    decoded = client.embeddings.create(model="text-embedding-3-small", input=texts)
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float"
    )
    raw = client.embeddings.create(
        model="text-embedding-3-small", input=texts[0], encoding_format="base64"
    )

    sent = fake_openai.requests_to("POST", "/embeddings$")
    assert sent[0].body["encoding_format"] == "base64"
    vectors = [d.embedding for d in decoded.data]
    assert vectors == [d.embedding for d in floats.data]
    packed = base64.b64decode(raw.data[0].embedding)  # type: ignore[arg-type]
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == vectors[0]
    assert len(vectors[0]) == 1536
    assert math.isclose(sum(v * v for v in vectors[0]), 1.0, rel_tol=1e-5)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    again = client.embeddings.create(model="text-embedding-3-small", input=texts[0])
    assert again.data[0].embedding == vectors[0]
    assert decoded.usage.prompt_tokens > 0


@pytest.mark.parametrize(
    ("model", "dimensions", "expected"),
    [
        ("text-embedding-3-small", None, 1536),
        ("text-embedding-3-large", None, 3072),
        ("text-embedding-ada-002", None, 1536),
        ("all-minilm", None, 384),
        ("text-embedding-3-large", 256, 256),
    ],
)
def test_embedding_dimensions(
    client: openai.OpenAI, model: str, dimensions: int | None, expected: int
) -> None:
    extra = {} if dimensions is None else {"dimensions": dimensions}
    result = client.embeddings.create(model=model, input=[[104, 101], [108]], **extra)
    assert [len(d.embedding) for d in result.data] == [expected, expected]
    assert result.usage.prompt_tokens == 3


def test_embeddings_reject_bad_dimensions(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=-42)
    assert raised.value.message.endswith("-42 is less than the minimum of 1 - 'dimensions'")


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in ids
    assert "text-embedding-3-small" in ids
    assert client.models.retrieve("gpt-4o").owned_by == "system"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


# --- failure injection and lifecycle --------------------------------------------------------------


def test_an_injected_429_is_retried_by_the_sdk(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.fail_next("GET", r"/v1/models$", status=429)
    retrying = openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=1)

    assert retrying.models.list().data

    attempts = fake_openai.requests_to("GET", r"/models$")
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[1].headers["x-stainless-retry-count"] == "1"


def test_an_injected_500_surfaces_as_internal_server_error(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.fail_next("POST", r"/chat/completions", status=500, times=1)
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    assert raised.value.body["type"] == "server_error"  # type: ignore[index]
    assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])


def test_injected_failures_can_carry_custom_bodies(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.fail_next(
        "*",
        r"/files",
        status=400,
        body={"error": {"message": "nope", "type": "x", "param": None, "code": None}},
    )
    with pytest.raises(openai.BadRequestError) as raised:
        client.files.list()
    assert raised.value.message.endswith("nope")


def test_latency_and_stream_delay_leave_answers_unchanged(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.latency = 0.001
    fake_openai.stream_delay = 0.001
    chunks = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == 'This is a deterministic reply to: "hi".'


def test_reset_forgets_everything_and_replays_ids(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    first = upload(client, "a.txt", "a")
    fake_openai.processing_polls = 5
    fake_openai.reset()

    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(first)
    assert fake_openai.processing_polls == 1
    assert upload(client, "a.txt", "a") == first


def test_runs_as_a_module_printing_its_base_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        standalone = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
        assert standalone.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    finally:
        process.terminate()
        process.wait(timeout=10)

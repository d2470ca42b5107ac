"""Assistants v2 compatibility over real HTTP against the running app: assistants, threads
(Docent conversations), runs answered from the corpus with 【n:m†file】 annotations, streamed
runs in OpenAI's event order, vector stores as corpora, uploads with the ingest permission.
Shapes are checked against OpenAI's OpenAPI description."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
import pytest

from api.assistants.models import ApiFile, AssistantThread, ThreadRun
from api.models import ApiInterface
from chat.models import Conversation, Message
from documents import services as document_services
from documents.models import Document
from tests.api.conftest import make_corpora, make_people, parse_sse, token_for
from tests.fakes.spec_check import RECORDINGS_DIR, checker

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How much is the meal allowance abroad?"


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def corpora(people):
    return make_corpora(people)


def client_for(live_app: Any, plaintext: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{live_app.url}/v1",
        headers={"Authorization": f"Bearer {plaintext}", "OpenAI-Beta": "assistants=v2"},
        timeout=60,
    )


@pytest.fixture
def reader(live_app, people, corpora, fake_openai) -> httpx.Client:
    return client_for(live_app, token_for(people.reader))


def ok(response: httpx.Response, schema: str | None = None) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    if schema:
        assert checker().violations({"$ref": f"#/components/schemas/{schema}"}, body) == []
    return body


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def make_assistant(client: httpx.Client, **extra: Any) -> dict[str, Any]:
    return ok(
        client.post(
            "/assistants",
            json={
                "model": "gpt-4o",
                "name": "Handbook",
                "tools": [{"type": "file_search"}],
                "tool_resources": {"file_search": {"vector_store_ids": ["vs_policies"]}},
                **extra,
            },
        ),
        "AssistantObject",
    )


def test_a_run_answers_from_the_corpus_with_file_citations(reader, people, live_app):
    assistant = make_assistant(reader)
    assert assistant["tools"][0]["type"] == "file_search"
    assert assistant["tool_resources"] == {"file_search": {"vector_store_ids": ["vs_policies"]}}
    thread = ok(reader.post("/threads", json={}), "ThreadObject")
    ok(
        reader.post(
            f"/threads/{thread['id']}/messages", json={"role": "user", "content": QUESTION}
        ),
        "MessageObject",
    )
    run = ok(
        reader.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}),
        "RunObject",
    )
    assert run["status"] == "completed", (run, live_app.log.read_text())
    assert run["usage"]["total_tokens"] > 0
    assert ok(reader.get(f"/threads/{thread['id']}/runs/{run['id']}"))["status"] == "completed"

    messages = ok(reader.get(f"/threads/{thread['id']}/messages", params={"run_id": run["id"]}))
    (answer,) = messages["data"]
    assert checker().violations({"$ref": "#/components/schemas/MessageObject"}, answer) == []
    text = answer["content"][0]["text"]
    assert "45 euros" in text["value"]
    (annotation, *_) = text["annotations"]
    assert annotation["type"] == "file_citation"
    assert annotation["text"] == "【0:0†meals.md】"
    assert text["value"][annotation["start_index"] : annotation["end_index"]] == annotation["text"]
    assert "[1]" not in text["value"]
    cited = ok(reader.get(f"/files/{annotation['file_citation']['file_id']}"), "OpenAIFile")
    assert cited["filename"] == "meals.md"
    document = Document.objects.get(filename="meals.md")
    assert cited["id"] == f"file-docent-{document.pk}"

    # The thread is a conversation of the token's user, credited to the token.
    conversation = AssistantThread.objects.get(public_id=thread["id"]).conversation
    assert conversation.user == people.reader
    assert conversation.api_origin.interface == ApiInterface.OPENAI
    assert [m.role for m in Message.objects.filter(conversation=conversation)] == [
        "user",
        "assistant",
    ]
    steps = ok(
        reader.get(
            f"/threads/{thread['id']}/runs/{run['id']}/steps",
            params={"include[]": "step_details.tool_calls[*].file_search.results[*].content"},
        )
    )
    kinds = [step["type"] for step in steps["data"]]
    assert kinds == ["message_creation", "tool_calls"]
    for step in steps["data"]:
        assert checker().violations({"$ref": "#/components/schemas/RunStepObject"}, step) == []
    results = steps["data"][1]["step_details"]["tool_calls"][0]["file_search"]["results"]
    assert results[0]["file_name"] == "meals.md"
    assert "45 euros" in results[0]["content"][0]["text"]


def test_a_follow_up_run_uses_the_thread_history_and_numbers_its_markers_apart(reader):
    assistant = make_assistant(reader)
    thread = ok(reader.post("/threads", json={"messages": [{"role": "user", "content": QUESTION}]}))
    first = ok(reader.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}))
    assert first["status"] == "completed"
    again = error(
        reader.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}), 400
    )
    assert "no new user message" in again["message"]
    second = ok(
        reader.post(
            f"/threads/{thread['id']}/runs",
            json={
                "assistant_id": assistant["id"],
                "additional_messages": [{"role": "user", "content": "And the receipts?"}],
            },
        )
    )
    assert second["status"] == "completed"
    messages = ok(reader.get(f"/threads/{thread['id']}/messages", params={"order": "asc"}))
    assert [m["role"] for m in messages["data"]] == ["user", "assistant", "user", "assistant"]
    for annotation in messages["data"][3]["content"][0]["text"]["annotations"]:
        assert annotation["text"].startswith("【1:")
    conversation = AssistantThread.objects.get(public_id=thread["id"]).conversation
    assert Message.objects.filter(conversation=conversation).count() == 4


def recorded_stream(name: str) -> list[tuple[str, Any]]:
    path = RECORDINGS_DIR / f"{name}.json"
    if not path.exists():
        pytest.skip(f"recording {path} not found")
    entries = json.loads(path.read_text())["Entries"]
    (run,) = [e for e in entries if "/runs" in e["RequestUri"]]
    return parse_sse("".join(run["ResponseBody"])).events


def test_a_streamed_run_sends_openais_events_and_deltas_add_up_to_the_message(reader):
    assistant = make_assistant(reader)
    response = reader.post(
        "/threads/runs",
        json={
            "assistant_id": assistant["id"],
            "thread": {"messages": [{"role": "user", "content": QUESTION}]},
            "stream": True,
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text).events
    names = [name for name, _ in events]
    assert names[:4] == ["thread.created", "thread.run.created", "thread.run.queued",
                         "thread.run.in_progress"]  # fmt: skip
    assert names[-3:] == ["thread.run.step.completed", "thread.run.completed", "done"]
    assert names.index("thread.message.created") < names.index("thread.message.delta")
    assert names.index("thread.message.completed") > max(
        i for i, name in enumerate(names) if name == "thread.message.delta"
    )
    completed = next(data for name, data in events if name == "thread.message.completed")
    deltas = [data for name, data in events if name == "thread.message.delta"]
    streamed = "".join(d["delta"]["content"][0]["text"]["value"] for d in deltas)
    assert streamed == completed["content"][0]["text"]["value"]
    assert "【0:0†meals.md】" in streamed
    streamed_annotations = [
        a for d in deltas for a in d["delta"]["content"][0]["text"].get("annotations", [])
    ]
    stored = completed["content"][0]["text"]["annotations"]
    assert [a["start_index"] for a in streamed_annotations] == [a["start_index"] for a in stored]
    run = next(data for name, data in events if name == "thread.run.completed")
    spec = checker()
    for name, data in events:
        schema = {
            "thread.run.completed": "RunObject",
            "thread.message.completed": "MessageObject",
            "thread.created": "ThreadObject",
            "thread.run.step.completed": "RunStepObject",
        }.get(name)
        if schema:
            assert spec.violations({"$ref": f"#/components/schemas/{schema}"}, data) == [], name
    assert ThreadRun.objects.get(public_id=run["id"]).status == "completed"

    # The same sequence as OpenAI's recorded file_search run (runs of deltas collapsed).
    recorded = recorded_stream("AssistantsTests__FileSearchStreamingWorks")
    assert [k for k, _ in itertools.groupby(names[1:])] == [
        k for k, _ in itertools.groupby(name for name, _ in recorded)
    ]
    (recorded_cited,) = [
        a
        for name, data in recorded
        if name == "thread.message.delta"
        for a in data["delta"]["content"][0]["text"].get("annotations", [])
    ]
    assert set(streamed_annotations[0]) == set(recorded_cited)
    assert set(streamed_annotations[0]["file_citation"]) == set(recorded_cited["file_citation"])


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        ([{"type": "code_interpreter"}], "tools[0].type"),
        ([{"type": "file_search"}, {"type": "function", "function": {"name": "f"}}],
         "tools[1].type"),
    ],
)  # fmt: skip
def test_tools_other_than_file_search_are_refused_naming_the_parameter(reader, tools, param):
    body = error(reader.post("/assistants", json={"model": "gpt-4o", "tools": tools}), 400)
    assert body["param"] == param
    assert "not supported" in body["message"]
    assert body["type"] == "invalid_request_error"


def test_unsupported_parameters_get_a_clear_400(reader):
    body = error(
        reader.post(
            "/assistants",
            json={"model": "gpt-4o", "response_format": {"type": "json_object"}},
        ),
        400,
    )
    assert body["param"] == "response_format"
    assert error(reader.post("/assistants", json={}), 400)["param"] == "model"
    body = error(reader.post("/vector_stores", json={"name": "new"}), 400)
    assert "Docent corpora" in body["message"]
    assistant = make_assistant(reader)
    thread = ok(reader.post("/threads", json={}))
    body = error(
        reader.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}), 400
    )
    assert "no new user message" in body["message"]


def test_vector_stores_are_the_corpora_the_token_may_query(live_app, people, corpora, fake_openai):
    reader = client_for(live_app, token_for(people.reader))
    stores = ok(reader.get("/vector_stores"), "ListVectorStoresResponse")
    assert [store["id"] for store in stores["data"]] == ["vs_policies"]
    store = ok(reader.get("/vector_stores/vs_policies"), "VectorStoreObject")
    assert store["name"] == "Policies"
    assert store["file_counts"]["completed"] == 1
    files = ok(reader.get("/vector_stores/vs_policies/files"))
    assert [f["status"] for f in files["data"]] == ["completed"]
    for item in files["data"]:
        assert (
            checker().violations({"$ref": "#/components/schemas/VectorStoreFileObject"}, item) == []
        )
    assert error(reader.get("/vector_stores/vs_secret"), 404)["message"] == (
        "No vector store found with id 'vs_secret'."
    )
    outsider = client_for(live_app, token_for(people.outsider))
    assert ok(outsider.get("/vector_stores"))["data"] == []
    resources = {"file_search": {"vector_store_ids": ["vs_policies"]}}
    body = error(
        outsider.post("/assistants", json={"model": "gpt-4o", "tool_resources": resources}), 404
    )
    assert "vs_policies" in body["message"]


def test_threads_and_assistants_belong_to_their_user(live_app, people, corpora, fake_openai):
    manager = client_for(live_app, token_for(people.manager))
    member = client_for(live_app, token_for(people.contributor))
    outsider = client_for(live_app, token_for(people.outsider))
    assistant = make_assistant(manager)
    thread = ok(manager.post("/threads", json={
        "tool_resources": {"file_search": {"vector_store_ids": ["vs_policies"]}}}))  # fmt: skip
    # A thread with a vector store is a conversation at once, shown in its owner's web UI.
    conversation = AssistantThread.objects.get(public_id=thread["id"]).conversation
    assert Conversation.objects.for_user(people.manager).filter(pk=conversation.pk).exists()
    for other in (member, outsider):
        assert error(other.get(f"/threads/{thread['id']}"), 404)["message"].startswith("No thread")
        assert error(other.get(f"/assistants/{assistant['id']}"), 404)
        assert ok(other.get("/assistants"))["data"] == []
    assert ok(manager.get("/assistants"))["data"][0]["id"] == assistant["id"]
    deleted = ok(manager.delete(f"/threads/{thread['id']}"))
    assert deleted == {"id": thread["id"], "object": "thread.deleted", "deleted": True}
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_uploading_into_a_vector_store_needs_the_ingest_permission(
    live_app, people, corpora, fake_openai, settings
):
    settings.MEDIA_ROOT = str(live_app.log.parent / "media")  # to ingest what the app stored
    reader = client_for(live_app, token_for(people.reader, ["*:query"]))
    contributor = client_for(live_app, token_for(people.contributor))
    content = b"# Parking\n\nStaff park in the north garage from 7 am.\n"
    uploaded = ok(
        contributor.post(
            "/files", data={"purpose": "assistants"}, files={"file": ("parking.md", content)}
        ),
        "OpenAIFile",
    )
    assert uploaded["filename"] == "parking.md"
    assert uploaded["bytes"] == len(content)
    mine = ok(reader.post("/files", data={"purpose": "assistants"},
                          files={"file": ("parking.md", content)}))  # fmt: skip
    body = error(reader.post("/vector_stores/vs_policies/files", json={"file_id": mine["id"]}), 403)
    assert "ingest" in body["message"]
    # Another user's upload does not exist for the contributor.
    error(contributor.post("/vector_stores/vs_policies/files", json={"file_id": mine["id"]}), 404)

    batch = ok(
        contributor.post(
            "/vector_stores/vs_policies/file_batches", json={"file_ids": [uploaded["id"]]}
        ),
        "VectorStoreFileBatchObject",
    )
    assert batch["status"] == "in_progress"
    document = ApiFile.objects.get(public_id=uploaded["id"]).documents.get()
    assert document.corpus.slug == "policies"
    assert document.uploaded_by == people.contributor
    document_services.document_ingest(document_id=document.pk)
    batch = ok(contributor.get(f"/vector_stores/vs_policies/file_batches/{batch['id']}"))
    assert batch["status"] == "completed"
    assert batch["file_counts"]["completed"] == 1
    item = ok(contributor.get(f"/vector_stores/vs_policies/files/{uploaded['id']}"))
    assert item["status"] == "completed"
    listed = ok(contributor.get(f"/vector_stores/vs_policies/file_batches/{batch['id']}/files"))
    assert [f["id"] for f in listed["data"]] == [uploaded["id"]]


def test_a_failing_model_fails_the_run_and_a_new_run_answers_the_same_question(reader, fake_openai):
    assistant = make_assistant(reader)
    thread = ok(reader.post("/threads", json={"messages": [{"role": "user", "content": QUESTION}]}))
    fake_openai.fail_next("POST", r"/chat/completions", status=500, times=10)
    run = ok(reader.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}))
    assert run["status"] == "failed"
    assert run["failed_at"] is not None
    assert run["last_error"]["code"] == "server_error"
    assert run["last_error"]["message"]
    assert checker().violations({"$ref": "#/components/schemas/RunObject"}, run) == []

    fake_openai.fail_next("POST", r"/chat/completions", status=500, times=10)
    response = reader.post(
        f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"], "stream": True}
    )
    names = [name for name, _ in parse_sse(response.text).events]
    assert names[-2:] == ["thread.run.failed", "done"]
    assert "thread.message.completed" not in names

    fake_openai.reset()
    retried = ok(
        reader.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]})
    )
    assert retried["status"] == "completed"
    messages = ok(reader.get(f"/threads/{thread['id']}/messages", params={"order": "asc"}))
    assert [m["role"] for m in messages["data"]] == ["user", "assistant"]
    assert "45 euros" in messages["data"][1]["content"][0]["text"]["value"]


def test_objects_have_the_fields_of_openais_recorded_file_search_run(reader):
    path = RECORDINGS_DIR / "AssistantsTests__FileSearchWorks.json"
    if not path.exists():
        pytest.skip(f"recording {path} not found")
    recorded: dict[str, dict[str, Any]] = {}
    for entry in json.loads(path.read_text())["Entries"]:
        body = entry["ResponseBody"]
        if isinstance(body, dict):
            item = body["data"][0] if body.get("object") == "list" and body["data"] else body
            recorded.setdefault(item.get("object", ""), item)
    assistant = make_assistant(reader)
    thread = ok(reader.post("/threads", json={"messages": [{"role": "user", "content": QUESTION}]}))
    run = ok(reader.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}))
    message = ok(reader.get(f"/threads/{thread['id']}/messages"))["data"][0]
    step = ok(reader.get(f"/threads/{thread['id']}/runs/{run['id']}/steps"))["data"][0]
    annotation = message["content"][0]["text"]["annotations"][0]
    cited = ok(reader.get(f"/files/{annotation['file_citation']['file_id']}"))
    ours = {"assistant": assistant, "thread": thread, "thread.run": run,
            "thread.message": message, "thread.run.step": step, "file": cited}  # fmt: skip
    for kind, body in ours.items():
        assert set(recorded[kind]) <= set(body), kind
    # Listed messages on the wire leave out status and its times; streamed ones (and the
    # spec) have them, and so do Docent's everywhere.
    (streamed,) = [
        data
        for name, data in recorded_stream("AssistantsTests__FileSearchStreamingWorks")
        if name == "thread.message.completed"
    ]
    assert set(message) == set(streamed)
    for kind in ("assistant", "thread", "thread.run", "thread.run.step", "file"):
        assert set(ours[kind]) == set(recorded[kind]), kind
    theirs = recorded["thread.message"]["content"][0]["text"]["annotations"][0]
    assert set(annotation) == set(theirs)
    assert set(annotation["file_citation"]) == set(theirs["file_citation"])

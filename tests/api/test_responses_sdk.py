"""Real clients of the Responses API against the running app (uvicorn, ASGI), each changed only
in its base URL and key: openai-python's `responses.create` (whole, streamed, with
previous_response_id and conversation), LangChain's ChatOpenAI(use_responses_api=True), and,
where node is installed, the Node SDK and the Vercel AI SDK's default `openai(model)` provider
(npm packages cached under .cache/node-clients so that reruns are fast)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import openai
import pytest

from api.models import ApiResponse
from chat.models import Conversation
from tests.api.conftest import ROOT, make_corpora, make_people, token_for

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How much is the meal allowance abroad?"
CLIENTS = Path(__file__).resolve().parent / "clients"
NODE_CACHE = ROOT / ".cache" / "node-clients"


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def corpora(people):
    return make_corpora(people)


@pytest.fixture
def key(people, corpora) -> str:
    return token_for(people.reader)


@pytest.fixture
def sdk(live_app, key, fake_openai) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_app.url}/v1", api_key=key, max_retries=0)


def _cited(text: str) -> None:
    assert "45 euros" in text
    assert "\n\nSources:\n[1] meals.md, p. 1" in text


# --- openai-python --------------------------------------------------------------------------------


def test_responses_create_gets_a_cited_answer_with_usage(sdk, live_app, corpora):
    response = sdk.responses.create(
        model="policies", instructions="Answer briefly.", input=QUESTION
    )
    assert response.object == "response"
    assert response.status == "completed"
    assert response.model == "policies"
    _cited(response.output_text)
    (message,) = response.output
    annotation = message.content[0].annotations[0]
    assert annotation.type == "file_citation"
    assert annotation.filename == "meals.md"
    document = corpora[0].documents.get(filename="meals.md")
    assert annotation.file_id == f"file-docent-{document.pk}"
    assert annotation.model_extra["page"] == 1
    assert annotation.model_extra["url"].startswith(live_app.url)
    # The fake chat model counts words: real usage from the strategy.
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.usage.total_tokens == (
        response.usage.input_tokens + response.usage.output_tokens
    )

    assert sdk.responses.retrieve(response.id).output_text == response.output_text
    items = sdk.responses.input_items.list(response.id)
    assert [item.content[0].text for item in items.data] == [QUESTION]
    sdk.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(response.id)


def test_the_streaming_helper_accepts_the_event_sequence(sdk):
    with sdk.responses.stream(model="policies", input=QUESTION) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert "response.output_text.annotation.added" in types
    assert types[-1] == "response.completed"
    _cited(final.output_text)
    assert final.output[0].content[0].annotations[0].filename == "meals.md"
    assert final.usage.total_tokens > 0


def test_a_raw_stream_adds_up_to_the_final_text(sdk):
    events = list(sdk.responses.create(model="policies", input=QUESTION, stream=True))
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == text
    _cited(text)


def test_previous_response_id_continues_the_conversation(sdk):
    first = sdk.responses.create(model="policies", input=QUESTION)
    second = sdk.responses.create(
        model="policies",
        input="When must meal receipts be uploaded?",
        previous_response_id=first.id,
        stream=True,
    )
    final = next(event for event in second if event.type == "response.completed").response
    assert final.previous_response_id == first.id
    assert "thirty days" in final.output_text
    conversation = Conversation.objects.get()
    assert [m.content for m in conversation.messages.order_by("id") if m.role == "user"] == [
        QUESTION,
        "When must meal receipts be uploaded?",
    ]


def test_a_conversation_holds_the_responses_and_lists_their_items(sdk, people):
    conversation = sdk.conversations.create(metadata={"topic": "travel"})
    assert conversation.metadata == {"topic": "travel"}
    first = sdk.responses.create(model="policies", input=QUESTION, conversation=conversation.id)
    assert first.conversation.id == conversation.id
    second = sdk.responses.create(
        model="policies",
        input="When must meal receipts be uploaded?",
        conversation={"id": conversation.id},
    )
    assert "thirty days" in second.output_text
    items = sdk.conversations.items.list(conversation.id, order="asc")
    assert [(item.role, item.type) for item in items.data] == [
        ("user", "message"),
        ("assistant", "message"),
        ("user", "message"),
        ("assistant", "message"),
    ]
    assert items.data[1].id == first.output[0].id
    assert items.data[1].content[0].annotations[0].filename == "meals.md"
    # The same conversation, in the web UI of its owner.
    stored = Conversation.objects.get()
    assert stored.user == people.reader
    assert stored.messages.count() == 4
    assert ApiResponse.objects.filter(conversation=stored).count() == 2
    sdk.conversations.delete(conversation.id)
    assert not Conversation.objects.exists()


def test_the_sdk_raises_its_own_errors_for_responses(sdk):
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.responses.create(model="secret", input=QUESTION)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.responses.create(
            model="policies",
            input=QUESTION,
            tools=[{"type": "function", "name": "f", "parameters": {}, "strict": True}],
        )
    assert refused.value.param == "tools[0].type"
    with pytest.raises(openai.BadRequestError) as unknown:
        sdk.responses.create(model="policies", input=QUESTION, previous_response_id="resp_x")
    assert unknown.value.code == "previous_response_not_found"


def test_the_model_server_failing_ends_the_stream_with_response_failed(sdk, fake_openai):
    # The live app's chat model is the fake server: make it refuse, as a provider at its rate
    # limit does (retries are off in the live app).
    fake_openai.fail_next("POST", r"/chat/completions", status=429, times=10)
    events = list(sdk.responses.create(model="policies", input=QUESTION, stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed"
    assert failed.error.code == "rate_limit_exceeded"
    assert sdk.responses.retrieve(failed.id).status == "failed"

    fake_openai.fail_next("POST", r"/chat/completions", status=429, times=10)
    with pytest.raises(openai.APIStatusError) as refused:
        sdk.responses.create(model="policies", input=QUESTION)
    assert refused.value.status_code == 503
    assert refused.value.response.headers["x-should-retry"] == "true"


# --- LangChain ------------------------------------------------------------------------------------


def test_langchain_with_the_responses_api_gets_a_cited_answer(live_app, key, fake_openai):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        model="policies",
        base_url=f"{live_app.url}/v1",
        api_key=key,
        use_responses_api=True,
        max_retries=0,
    )
    answer = chat.invoke(QUESTION)
    _cited(answer.text)
    assert "meals.md" in json.dumps(answer.content)  # the file_citation annotations
    assert answer.usage_metadata["total_tokens"] > 0
    assert answer.response_metadata["model_name"] == "policies"

    streamed = "".join(chunk.text for chunk in chat.stream(QUESTION))
    _cited(streamed)


# --- JavaScript clients ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_clients() -> Path:
    """tests/api/clients installed under .cache/node-clients (again only when package.json
    changes)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(
            "NOT TESTED: node and npm are not installed, so the Node SDK and the Vercel AI SDK "
            "were not run against /v1/responses. Install Node.js to run these tests."
        )
    manifest = (CLIENTS / "package.json").read_bytes()
    stamp = NODE_CACHE / ".installed"
    digest = hashlib.sha256(manifest).hexdigest()
    NODE_CACHE.mkdir(parents=True, exist_ok=True)
    for script in CLIENTS.glob("*.mjs"):
        shutil.copy2(script, NODE_CACHE / script.name)
    if not stamp.exists() or stamp.read_text() != digest:
        (NODE_CACHE / "package.json").write_bytes(manifest)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_CACHE,
            check=True,
            timeout=600,
        )
        stamp.write_text(digest)
    return NODE_CACHE


def _run_node(folder: Path, script: str, *, live_app: Any, key: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{live_app.url}/v1",
        "OPENAI_API_KEY": key,
        "DOCENT_CORPUS": "policies",
        "DOCENT_QUESTION": QUESTION,
    }
    done = subprocess.run(
        ["node", script], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{done.stderr}\n{live_app.log.read_text()[-3000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_node_sdk_gets_a_cited_answer_and_streams(node_clients, live_app, key, fake_openai):
    result = _run_node(node_clients, "openai_node.mjs", live_app=live_app, key=key)
    _cited(result["text"])
    assert result["annotations"][0]["type"] == "file_citation"
    assert result["annotations"][0]["filename"] == "meals.md"
    assert result["usage"]["total_tokens"] > 0
    assert result["types"][0] == "response.created"
    assert result["types"][-1] == "response.completed"
    assert "response.output_text.annotation.added" in result["types"]
    assert result["sequence"] == list(range(len(result["types"])))
    _cited(result["streamed"])
    assert result["previous"] == result["id"]


def test_the_vercel_ai_sdk_default_provider_gets_a_cited_answer(
    node_clients, live_app, key, fake_openai
):
    result = _run_node(node_clients, "vercel_ai.mjs", live_app=live_app, key=key)
    _cited(result["text"])
    assert result["finishReason"] == "stop"
    assert result["usage"]["totalTokens"] > 0
    assert any("meals.md" in json.dumps(source) for source in result["sources"]), result
    _cited(result["streamed"])
    assert any("meals.md" in json.dumps(source) for source in result["streamedSources"])

"""Assistants, threads and runs (assistants_api.py, runs_api.py)."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.sdk.helpers import DRILL, SAW, collapse, indexed_store

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

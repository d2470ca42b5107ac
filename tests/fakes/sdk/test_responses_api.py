"""Responses with file_search, their stream, and conversation state (responses_api.py,
conversations_api.py)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.sdk.helpers import (
    DRILL,
    FIGURES,
    FIGURES_QUESTION,
    LEGAL,
    SAW,
    collapse,
    filing,
    filings,
    indexed_store,
    upload,
)


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


def _file_search(
    client: openai.OpenAI, store_id: str, question: str, **tool: Any
) -> tuple[Any, list[Any]]:
    response = client.responses.create(
        model="gpt-4o-mini",
        input=question,
        tools=[{"type": "file_search", "vector_store_ids": [store_id], **tool}],
        include=["file_search_call.results"],
    )
    return response, response.output[0].results  # type: ignore[union-attr]


def test_file_search_results_rank_the_file_naming_the_company_first(
    client: openai.OpenAI,
) -> None:
    store_id, _ = indexed_store(client, filings())

    response, results = _file_search(client, store_id, FIGURES_QUESTION)

    assert results[0].filename == "zephyr.txt"
    assert sorted(r.filename for r in results[1:]) == ["bolt.txt", "delta.txt", "flint.txt"]
    scores = [r.score for r in results]
    assert all(0 < score < 1 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1]
    assert response.output_text.startswith("According to zephyr.txt")


def test_file_search_ranks_the_chunk_holding_the_rare_word_above_the_file_start(
    client: openai.OpenAI,
) -> None:
    store = client.vector_stores.create(name="annual")
    text = " ".join(
        filing(company, topics)
        for company, topics in [
            ("Acme", LEGAL),
            ("Bolt", FIGURES),
            ("Crane", LEGAL),
            ("Zephyr", FIGURES),
        ]
    )
    done = client.vector_stores.files.create_and_poll(
        upload(client, "annual.txt", text),
        vector_store_id=store.id,
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0},
        },
        poll_interval_ms=1,
    )
    assert done.status == "completed"

    _, results = _file_search(client, store.id, FIGURES_QUESTION)

    assert "Zephyr" in results[0].text
    assert not text.startswith(results[0].text)
    assert any("Bolt" in r.text and "Zephyr" not in r.text for r in results[1:])


def test_file_search_honours_score_threshold_and_max_num_results(client: openai.OpenAI) -> None:
    store_id, _ = indexed_store(client, filings())
    _, ranked = _file_search(client, store_id, FIGURES_QUESTION)
    cut = (ranked[0].score + ranked[1].score) / 2

    _, above = _file_search(
        client, store_id, FIGURES_QUESTION, ranking_options={"score_threshold": cut}
    )
    _, best = _file_search(client, store_id, FIGURES_QUESTION, max_num_results=2)

    assert [r.filename for r in above] == ["zephyr.txt"]
    assert [(r.file_id, r.score) for r in best] == [(r.file_id, r.score) for r in ranked[:2]]
    with pytest.raises(openai.BadRequestError, match="score_threshold"):
        _file_search(client, store_id, FIGURES_QUESTION, ranking_options={"score_threshold": -1})
    with pytest.raises(openai.BadRequestError, match="max_num_results"):
        _file_search(client, store_id, FIGURES_QUESTION, max_num_results=51)


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

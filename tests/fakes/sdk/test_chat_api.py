"""Chat Completions (chat_api.py)."""

from __future__ import annotations

import openai

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.sdk.helpers import DRILL, indexed_store

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

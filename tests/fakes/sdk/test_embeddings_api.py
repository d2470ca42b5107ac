"""Embeddings and models (embeddings_api.py)."""

from __future__ import annotations

import base64
import math
import struct

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.sdk.helpers import cosine


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

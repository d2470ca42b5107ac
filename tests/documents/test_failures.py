"""Provider failures as the backends' IndexingError (documents/backends/failures.py)."""

from __future__ import annotations

import pytest

from documents.backends.base import IndexingError
from documents.backends.embeddings import OpenAICompatibleEmbedder
from documents.backends.failures import indexing_error, provider_errors
from documents.providers import ProviderFailure, ProviderNotConfigured

QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}


@pytest.mark.parametrize(
    ("failure", "sentence"),
    [
        (
            ProviderFailure("rate_limited", retryable=True, status=429, message="slow down"),
            "OpenAI is rate-limiting requests; will retry.",
        ),
        (
            ProviderFailure("server_error", retryable=True, status=503, message="overloaded"),
            "OpenAI is temporarily unavailable (503); will retry.",
        ),
        (
            ProviderFailure("quota", retryable=False, status=429, message="Out of credit."),
            "OpenAI refused the request because the account's quota is used up: Out of credit.",
        ),
        (
            ProviderFailure("auth", retryable=False, status=401, message="Incorrect API key."),
            "OpenAI rejected the API key: Incorrect API key.",
        ),
        (
            ProviderFailure("refused", retryable=False, status=400, message="Bad file."),
            "OpenAI refused the request: Bad file.",
        ),
        (
            ProviderFailure("unknown", retryable=True, status=None, message="Odd."),
            "Unexpected answer from OpenAI: Odd.; will retry.",
        ),
    ],
)
def test_each_failure_reads_as_a_sentence_with_the_providers_retry_rule(failure, sentence):
    error = indexing_error(failure, service="OpenAI")

    assert str(error) == sentence
    assert error.retryable is failure.retryable


def test_a_missing_api_key_is_an_indexing_error_that_is_not_retried():
    with pytest.raises(IndexingError, match="No OpenAI API key") as raised, provider_errors():
        raise ProviderNotConfigured("No OpenAI API key is configured.")

    assert not raised.value.retryable


# --- the embeddings server, through the real SDK ------------------------------------------------


@pytest.fixture
def embedder(fake_openai, settings) -> OpenAICompatibleEmbedder:
    settings.OPENAI_MAX_RETRIES = 0
    return OpenAICompatibleEmbedder(
        alias="remote",
        model="text-embedding-3-small",
        dimensions=1536,
        base_url=fake_openai.base_url,
        api_key="test",
    )


def test_the_embeddings_server_embeds(embedder):
    assert embedder.embed(["The office opens at nine."]).vectors.shape == (1, 1536)


def test_an_embeddings_server_out_of_quota_is_not_retried(embedder, fake_openai):
    fake_openai.fail_next("POST", r"/embeddings$", status=429, body=QUOTA)

    with pytest.raises(IndexingError, match="quota is used up") as raised:
        embedder.embed(["text"])

    assert str(raised.value).startswith("The embeddings server refused the request")
    assert not raised.value.retryable


def test_an_overloaded_embeddings_server_is_retried(embedder, fake_openai):
    fake_openai.fail_next("POST", r"/embeddings$", status=503)

    with pytest.raises(IndexingError) as raised:
        embedder.embed(["text"])

    assert (
        str(raised.value) == "The embeddings server is temporarily unavailable (503); will retry."
    )
    assert raised.value.retryable


def test_the_embedder_follows_changed_settings(settings, fake_openai):
    settings.OPENAI_MAX_RETRIES = 0
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.OPENAI_API_KEY = "test"
    embedder = OpenAICompatibleEmbedder(
        alias="remote", model="text-embedding-3-small", dimensions=1536
    )
    with pytest.raises(IndexingError, match="could not be reached"):
        embedder.embed(["text"])

    settings.OPENAI_BASE_URL = fake_openai.base_url

    assert embedder.embed(["text"]).vectors.shape == (1, 1536)

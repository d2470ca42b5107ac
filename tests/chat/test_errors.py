"""Provider failures as the strategies' StrategyError (chat/strategies/errors.py)."""

from __future__ import annotations

import httpx2
import openai
import pytest

from chat.strategies.base import StrategyError
from chat.strategies.errors import answer_failed, strategy_client, translate_openai_error
from documents.providers import ProviderClient, reported_failure

REQUEST = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def status_error(status: int, *, message: str, type: str = "x", code: str | None = None):
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    response = httpx2.Response(status, json=body, request=REQUEST)
    sdk = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="test")
    return sdk._make_status_error_from_response(response)


@pytest.mark.parametrize(
    ("error", "sentence", "retryable", "code"),
    [
        (
            status_error(429, message="Slow down."),
            "OpenAI is rate-limiting requests right now. Wait a minute and ask again.",
            True,
            "rate_limited",
        ),
        (
            status_error(401, message="Incorrect API key provided."),
            "OpenAI rejected the configured API key. An administrator needs to fix the key in "
            "the settings.",
            False,
            "not_configured",
        ),
        (
            openai.APITimeoutError(request=REQUEST),
            "OpenAI did not answer in time. Try again in a moment.",
            True,
            "unavailable",
        ),
        (
            status_error(500, message="Boom."),
            "OpenAI had an internal error. Try again in a moment.",
            True,
            "unavailable",
        ),
        (
            status_error(400, message="Bad messages."),
            "OpenAI refused the request (400): Bad messages.",
            False,
            "provider_error",
        ),
    ],
)
def test_sdk_errors_keep_their_sentences_and_codes(error, sentence, retryable, code):
    translated = translate_openai_error(error, service="OpenAI")

    assert (str(translated), translated.retryable, translated.code) == (sentence, retryable, code)


def test_an_exhausted_quota_is_no_rate_limit_and_is_not_retried():
    error = status_error(
        429,
        message="You exceeded your current quota.",
        type="insufficient_quota",
        code="insufficient_quota",
    )

    translated = translate_openai_error(error, service="OpenAI")

    assert not translated.retryable
    assert translated.code == "quota_exceeded"
    assert "quota is used up (You exceeded your current quota.)" in str(translated)
    assert "Wait a minute" not in str(translated)


def test_a_failure_reported_while_answering_keeps_its_reason():
    failure = reported_failure(code="rate_limit_exceeded", message="Too many tokens.")

    error = answer_failed(failure, who="OpenAI")

    assert (str(error), error.retryable, error.code) == (
        "OpenAI could not answer: Too many tokens.",
        True,
        "rate_limited",
    )


def test_a_strategy_without_credentials_is_not_configured(settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""

    with pytest.raises(StrategyError, match="No OpenAI API key") as raised:
        strategy_client(ProviderClient())

    assert raised.value.code == "not_configured"
    assert not raised.value.retryable

from __future__ import annotations

import socket

import httpx2
import openai
import pytest

from documents.providers import (
    ProviderClient,
    ProviderNotConfigured,
    classify,
    openai_client,
    reported_failure,
)
from tests.fakes.openai_server import FakeOpenAIServer

URL = "http://127.0.0.1:9/v1/files"


def status_error(status: int, body: object) -> openai.APIStatusError:
    """The exception the SDK raises for this answer, built the way the SDK builds it."""
    request = httpx2.Request("POST", URL)
    if isinstance(body, str):
        response = httpx2.Response(status, text=body, request=request)
    else:
        response = httpx2.Response(status, json=body, request=request)
    sdk = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="test")
    return sdk._make_status_error_from_response(response)


def error_body(message: str, *, type: str = "invalid_request_error", code: str | None = None):
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


QUOTA = error_body(
    "You exceeded your current quota, please check your plan.",
    type="insufficient_quota",
    code="insufficient_quota",
)


# --- classify: SDK exceptions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [
        (429, error_body("Rate limit reached.", type="requests"), "rate_limited", True),
        (429, QUOTA, "quota", False),
        (401, error_body("Incorrect API key provided: sk-***."), "auth", False),
        (403, error_body("You may not do this."), "auth", False),
        (404, error_body("No such vector store."), "not_found", False),
        (408, error_body("Request timed out."), "timeout", True),
        (409, error_body("Another request holds the store."), "server_error", True),
        (500, error_body("The server had an error.", type="server_error"), "server_error", True),
        (503, error_body("Overloaded.", type="server_error"), "server_error", True),
        (400, error_body("Invalid file format."), "refused", False),
        (410, error_body("This endpoint is gone."), "refused", False),
        (413, error_body("File is too large."), "refused", False),
        (422, error_body("Unprocessable."), "refused", False),
    ],
)
def test_each_status_has_one_kind_and_one_retry_rule(status, body, kind, retryable):
    failure = classify(status_error(status, body))

    assert (failure.kind, failure.retryable, failure.status) == (kind, retryable, status)
    assert failure.message == body["error"]["message"]


def test_the_providers_error_code_is_kept():
    failure = classify(
        status_error(404, error_body("The model does not exist.", code="model_not_found"))
    )

    assert failure.code == "model_not_found"


def test_an_answer_that_is_not_json_is_told_by_its_status_not_its_markup():
    failure = classify(status_error(502, "<html>Bad gateway</html>"))

    assert (failure.kind, failure.retryable) == ("server_error", True)
    assert failure.message == "Error code: 502"


def test_timeouts_and_connection_failures_are_retryable_without_a_status():
    request = httpx2.Request("POST", URL)

    timeout = classify(openai.APITimeoutError(request=request))
    unreachable = classify(openai.APIConnectionError(request=request))

    assert (timeout.kind, timeout.retryable, timeout.status) == ("timeout", True, None)
    assert (unreachable.kind, unreachable.retryable, unreachable.status) == (
        "unreachable",
        True,
        None,
    )


@pytest.mark.parametrize(
    ("code", "kind", "retryable"),
    [
        ("server_error", "server_error", True),
        ("rate_limit_exceeded", "rate_limited", True),
        ("insufficient_quota", "quota", False),
        ("invalid_prompt", "refused", False),
        (None, "unknown", True),
    ],
)
def test_an_error_event_in_a_stream_is_judged_by_its_code(code, kind, retryable):
    # The SDK raises a stream's `error` event as a bare APIError with the event's error as body.
    error = openai.APIError(
        "The run failed.",
        httpx2.Request("POST", URL),
        body={"message": "The run failed.", "code": code},
    )

    failure = classify(error)

    assert (failure.kind, failure.retryable, failure.status) == (kind, retryable, None)
    assert failure.message == "The run failed."


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("server_error", True),
        ("rate_limit_exceeded", True),
        ("vector_store_timeout", True),
        (None, True),
        ("unsupported_file", False),
        ("invalid_file", False),
        ("invalid_prompt", False),
        ("insufficient_quota", False),
    ],
)
def test_reported_failures_are_retried_only_for_transient_codes(code, retryable):
    assert reported_failure(code=code, message="why").retryable is retryable


# --- classify over HTTP, against the fake server's failure modes ---------------------------------


@pytest.fixture
def sdk(fake_openai: FakeOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)


def failure_of(call):
    with pytest.raises(openai.OpenAIError) as raised:
        call()
    return classify(raised.value)


def test_a_rate_limit_from_the_server(fake_openai, sdk):
    fake_openai.fail_next("GET", r"/v1/files$", status=429)

    failure = failure_of(sdk.files.list)

    assert (failure.kind, failure.retryable, failure.status) == ("rate_limited", True, 429)
    assert failure.message == "Rate limit reached for requests. Please try again shortly."


def test_an_exhausted_quota_from_the_server_is_not_retryable(fake_openai, sdk):
    fake_openai.fail_next("GET", r"/v1/files$", status=429, body=QUOTA)

    failure = failure_of(sdk.files.list)

    assert (failure.kind, failure.retryable) == ("quota", False)
    assert failure.message == "You exceeded your current quota, please check your plan."


def test_a_wrong_api_key_at_the_server(fake_openai):
    fake_openai.require_api_key = "sk-the-right-key"
    wrong = openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-wrong-key-1234", max_retries=0)

    failure = failure_of(wrong.files.list)

    assert (failure.kind, failure.retryable, failure.status) == ("auth", False, 401)
    assert failure.message.startswith("Incorrect API key provided")
    assert failure.code == "invalid_api_key"


def test_an_object_the_server_does_not_have(sdk):
    failure = failure_of(lambda: sdk.vector_stores.retrieve("vs_missing"))

    assert (failure.kind, failure.retryable, failure.status) == ("not_found", False, 404)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_from_the_server_are_retryable(fake_openai, sdk, status):
    fake_openai.fail_next("GET", r"/v1/files$", status=status)

    failure = failure_of(sdk.files.list)

    assert (failure.kind, failure.retryable, failure.status) == ("server_error", True, status)


def test_a_request_the_server_refuses_keeps_its_message(fake_openai, sdk):
    fake_openai.fail_next("POST", r"/v1/files$", status=413, body=error_body("File is too large."))

    failure = failure_of(lambda: sdk.files.create(file=("a.txt", b"a"), purpose="assistants"))

    assert (failure.kind, failure.retryable, failure.status) == ("refused", False, 413)
    assert failure.message == "File is too large."


def test_a_server_slower_than_the_timeout(fake_openai):
    fake_openai.latency = 0.5
    impatient = openai.OpenAI(
        base_url=fake_openai.base_url, api_key="test", max_retries=0, timeout=0.05
    )

    failure = failure_of(impatient.files.list)

    assert (failure.kind, failure.retryable, failure.status) == ("timeout", True, None)


def test_a_server_nobody_listens_at():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="test", max_retries=0)

    failure = failure_of(closed.files.list)

    assert (failure.kind, failure.retryable, failure.status) == ("unreachable", True, None)


# --- the client factory -------------------------------------------------------------------------


@pytest.fixture
def configured(settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.OPENAI_API_KEY = "sk-first"
    settings.OPENAI_TIMEOUT_SECONDS = 30
    settings.OPENAI_MAX_RETRIES = 2
    return settings


def test_the_same_settings_share_one_client(configured):
    assert openai_client() is openai_client()
    assert ProviderClient().get() is openai_client()


def test_changed_settings_take_effect_on_the_next_call(configured):
    first = openai_client()

    configured.OPENAI_API_KEY = "sk-second"
    configured.OPENAI_BASE_URL = "http://127.0.0.1:10/v1"
    configured.OPENAI_TIMEOUT_SECONDS = 5

    second = openai_client()
    assert second is not first
    assert (second.api_key, str(second.base_url), second.timeout) == (
        "sk-second",
        "http://127.0.0.1:10/v1/",
        5.0,
    )


def test_a_provider_clients_own_base_url_and_key_win_over_the_settings(configured):
    client = ProviderClient(base_url="http://127.0.0.1:11/v1", api_key="sk-own").get()

    assert (client.api_key, str(client.base_url)) == ("sk-own", "http://127.0.0.1:11/v1/")
    assert client.max_retries == 2


def test_an_injected_client_is_used_as_it_is(settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    injected = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="test")

    assert ProviderClient(client=injected).get() is injected


def test_no_key_and_no_base_url_is_not_configured(settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""

    with pytest.raises(ProviderNotConfigured, match="No OpenAI API key is configured"):
        ProviderClient().get()


def test_a_server_that_needs_no_key_gets_a_placeholder(settings):
    settings.OPENAI_API_KEY = ""

    client = openai_client(base_url="http://127.0.0.1:9/v1")

    assert client.api_key == "not-needed"

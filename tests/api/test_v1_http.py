"""HTTP details real clients rely on: x-request-id on every /v1 and /api response (and in the
log), CORS for browser-based chat UIs, trailing-slash paths, OpenAI's error codes, and no
`system_fingerprint: null`."""

from __future__ import annotations

import json
import logging
import re

import httpx
import openai
import pytest
from django.test import Client

from api.middleware import RequestIdFilter
from tests.api.conftest import api_client, make_corpora, make_people, token_for

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How much is the meal allowance abroad?"
ASK = [{"role": "user", "content": QUESTION}]
REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")
ORIGIN = "https://chat.example.com"


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def corpora(people):
    return make_corpora(people)


@pytest.fixture
def plaintext(people, corpora) -> str:
    return token_for(people.reader)


@pytest.fixture
def sdk(live_app, plaintext, fake_openai) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_app.url}/v1", api_key=plaintext, max_retries=0)


# --- x-request-id -------------------------------------------------------------------------------


def test_the_sdk_sees_a_request_id_on_answers_streams_and_errors(sdk):
    raw = sdk.chat.completions.with_raw_response.create(model="policies", messages=ASK)
    assert REQUEST_ID.match(raw.headers["x-request-id"])
    completion = raw.parse()
    assert completion._request_id == raw.headers["x-request-id"]

    with sdk.chat.completions.with_streaming_response.create(
        model="policies", messages=ASK, stream=True
    ) as streamed:
        assert REQUEST_ID.match(streamed.headers["x-request-id"])
        assert streamed.headers["x-request-id"] != raw.headers["x-request-id"]

    with pytest.raises(openai.NotFoundError) as missing:
        sdk.models.retrieve("secret")
    assert REQUEST_ID.match(missing.value.request_id)
    models = sdk.models.with_raw_response.list()
    assert REQUEST_ID.match(models.headers["x-request-id"])


def test_every_api_response_has_a_request_id(plaintext):
    client = api_client(plaintext)
    responses = [
        client.get("/api/corpora"),
        client.get("/api/corpora/secret"),  # 404
        client.get("/api/nowhere"),
        Client().get("/api/corpora"),  # 401
        client.get("/v1/models"),
        client.get("/v1/nowhere"),
        client.delete("/v1/models"),  # 405
        Client().get("/v1/models"),
    ]
    ids = [response["x-request-id"] for response in responses]
    assert all(REQUEST_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_the_request_id_is_logged_with_the_request(plaintext, caplog):
    client = api_client(plaintext)
    with caplog.at_level(logging.INFO, logger="api.middleware"):
        response = client.get("/v1/models/secret", headers={"X-Client-Request-Id": "ui-42"})
    request_id = response["x-request-id"]
    assert response["X-Client-Request-Id"] == "ui-42"
    (line,) = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert "GET /v1/models/secret -> 404" in line
    assert "ui-42" in line
    # Every record written meanwhile carries it, for the log format's [%(request_id)s]:
    # Django's own "Not Found" line too.
    (not_found,) = [r for r in caplog.records if r.name == "django.request"]
    assert RequestIdFilter().filter(not_found)
    assert not_found.request_id == request_id


def test_a_client_request_id_that_is_not_printable_ascii_is_not_echoed(plaintext):
    response = api_client(plaintext).get("/v1/models", headers={"X-Client-Request-Id": "x" * 513})
    assert "X-Client-Request-Id" not in response


# --- CORS -----------------------------------------------------------------------------------------


def _preflight(path: str, origin: str = ORIGIN):
    return Client().options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os, "
            "x-stainless-retry-count, openai-organization",
        },
    )


def test_no_cross_origin_access_by_default(plaintext):
    preflight = _preflight("/v1/chat/completions")
    assert "Access-Control-Allow-Origin" not in preflight
    response = api_client(plaintext).get("/v1/models", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_an_allowed_origin_gets_its_preflight_answered_and_can_read_the_answer(settings, plaintext):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    preflight = _preflight("/v1/chat/completions")
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    allowed = {h.strip() for h in preflight["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-stainless-os", "openai-organization"} <= allowed
    assert "Access-Control-Allow-Credentials" not in preflight
    assert REQUEST_ID.match(preflight["x-request-id"])

    answer = api_client(plaintext).post(
        "/v1/chat/completions",
        json.dumps({"model": "policies", "messages": ASK}),
        content_type="application/json",
        headers={"Origin": ORIGIN},
    )
    assert answer.status_code == 200, answer.content
    assert answer["Access-Control-Allow-Origin"] == ORIGIN
    exposed = {h.strip() for h in answer["Access-Control-Expose-Headers"].split(",")}
    assert "x-request-id" in exposed
    # The REST API too, errors included.
    denied = Client().get("/api/corpora", headers={"Origin": ORIGIN})
    assert denied.status_code == 401
    assert denied["Access-Control-Allow-Origin"] == ORIGIN


def test_other_origins_and_the_web_ui_get_no_cors_headers(settings):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    assert "Access-Control-Allow-Origin" not in _preflight("/v1/models", "https://evil.example")
    assert "Access-Control-Allow-Origin" not in _preflight("/accounts/login/")
    assert "Access-Control-Allow-Origin" not in _preflight("/api/tokens/")  # a signed-in page


def test_any_origin_when_so_configured(settings):
    settings.CORS_ALLOW_ALL_ORIGINS = True
    assert _preflight("/v1/responses", "https://any.example")["Access-Control-Allow-Origin"] == "*"


# --- trailing slashes ---------------------------------------------------------------------------


def test_trailing_slash_paths_answer_like_the_canonical_ones(live_app, plaintext, fake_openai):
    auth = {"Authorization": f"Bearer {plaintext}"}
    with httpx.Client(base_url=live_app.url, headers=auth, follow_redirects=False) as http:
        for path in ("/v1/models", "/v1/models/policies", "/api/corpora", "/api/corpora/policies"):
            plain, slashed = http.get(path), http.get(f"{path}/")
            assert slashed.status_code == 200, (path, slashed.text)
            assert slashed.json() == plain.json()
        answer = http.post("/v1/chat/completions/", json={"model": "policies", "messages": ASK})
        assert answer.status_code == 200, answer.text
        assert "45 euros" in answer.json()["choices"][0]["message"]["content"]
        # Still OpenAI's 404 where no endpoint is, slash or not.
        for path in ("/v1/nowhere/", "/v1/models/secret/"):
            assert http.get(path).status_code == 404


# --- error codes ----------------------------------------------------------------------------------


def test_v1_errors_use_openais_codes(plaintext):
    client = api_client(plaintext)
    cases = [
        (Client().get("/v1/models"), 401, "invalid_api_key", None),
        (client.get("/v1/models/secret"), 404, "model_not_found", "model"),
        (client.get("/v1/nowhere"), 404, None, None),
        (client.delete("/v1/models"), 405, None, None),
        (
            client.post("/v1/chat/completions", "{", content_type="application/json"),
            400,
            "invalid_json",
            None,
        ),
    ]
    for response, status, code, param in cases:
        error = response.json()["error"]
        assert (response.status_code, error["code"], error["param"]) == (status, code, param)
        assert set(error) == {"message", "type", "param", "code"}
    too_big = client.post(
        "/v1/chat/completions",
        json.dumps(
            {"model": "policies", "messages": [{"role": "user", "content": "x" * 11_000_000}]}
        ),
        content_type="application/json",
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] is None
    unknown = client.post("/v1/nowhere").json()["error"]
    assert unknown["message"] == "Invalid URL (POST /v1/nowhere)."
    wrong = client.delete("/v1/models").json()["error"]
    assert wrong["message"] == "Invalid method for URL (DELETE /v1/models)."


# --- system_fingerprint ------------------------------------------------------------------------


def test_system_fingerprint_is_left_out_not_null(sdk):
    raw = sdk.chat.completions.with_raw_response.create(model="policies", messages=ASK)
    assert "system_fingerprint" not in json.loads(raw.text)
    assert raw.parse().system_fingerprint is None
    with sdk.chat.completions.with_streaming_response.create(
        model="policies", messages=ASK, stream=True
    ) as streamed:
        lines = [line for line in streamed.iter_lines() if line.startswith("data: {")]
    assert lines
    assert not any("system_fingerprint" in line for line in lines)


def test_an_oversized_body_is_a_413_in_each_apis_shape(plaintext):
    client = api_client(plaintext)
    body = json.dumps({"question": "x" * 11_000_000})
    rest = client.post("/api/corpora/policies/ask", body, content_type="application/json")
    assert rest.status_code == 413
    assert rest.json()["error"]["code"] == "too_large"
    assert "at most 10,485,760" in rest.json()["error"]["message"]
    assert REQUEST_ID.match(rest["x-request-id"])

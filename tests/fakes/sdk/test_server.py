"""Failure injection, latency, reset and running as a module (server.py, __main__.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.sdk.helpers import upload

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_an_injected_429_is_retried_by_the_sdk(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.fail_next("GET", r"/v1/models$", status=429)
    retrying = openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=1)

    assert retrying.models.list().data

    attempts = fake_openai.requests_to("GET", r"/models$")
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[1].headers["x-stainless-retry-count"] == "1"


def test_an_injected_500_surfaces_as_internal_server_error(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.fail_next("POST", r"/chat/completions", status=500, times=1)
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    assert raised.value.body["type"] == "server_error"  # type: ignore[index]
    assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])


def test_injected_failures_can_carry_custom_bodies(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.fail_next(
        "*",
        r"/files",
        status=400,
        body={"error": {"message": "nope", "type": "x", "param": None, "code": None}},
    )
    with pytest.raises(openai.BadRequestError) as raised:
        client.files.list()
    assert raised.value.message.endswith("nope")


def test_latency_and_stream_delay_leave_answers_unchanged(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.latency = 0.001
    fake_openai.stream_delay = 0.001
    chunks = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == 'This is a deterministic reply to: "hi".'


def test_reset_forgets_everything_and_replays_ids(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    first = upload(client, "a.txt", "a")
    fake_openai.processing_polls = 5
    fake_openai.reset()

    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(first)
    assert fake_openai.processing_polls == 1
    assert upload(client, "a.txt", "a") == first


def test_runs_as_a_module_printing_its_base_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        standalone = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
        assert standalone.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    finally:
        process.terminate()
        process.wait(timeout=10)

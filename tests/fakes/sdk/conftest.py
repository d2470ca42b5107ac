"""Every test here checks its answers against the spec, with a client that never retries."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.spec_check import checker


@pytest.fixture(autouse=True)
def _answers_have_spec_required_fields(fake_openai: FakeOpenAIServer) -> Iterator[None]:
    """Every JSON answer (and SSE event) a test got carries the fields openapi.yaml requires."""
    yield
    problems = []
    for recorded in fake_openai.requests:
        if recorded.status is None:
            continue
        problems += checker().check_exchange(
            recorded.method, recorded.path, recorded.status, recorded.response, recorded.events
        )
    assert problems == []


@pytest.fixture
def client(fake_openai: FakeOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)


@pytest.fixture(autouse=True)
def _quiet_assistants_deprecation() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield

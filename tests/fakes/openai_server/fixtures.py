"""pytest fixtures: one server per session, reset for every test that asks for `fake_openai`.

Import both names into a conftest.py:

    from tests.fakes.openai_server.fixtures import fake_openai, fake_openai_server  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeOpenAIServer


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()

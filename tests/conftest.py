from __future__ import annotations

from pathlib import Path

import pytest

from config.celery import app as celery_app
from tests.fakes.openai_server.fixtures import fake_openai, fake_openai_server  # noqa: F401

# Tests never reach a real broker: messages published by services land in memory and are
# inspected through django_capture_on_commit_callbacks. The end-to-end worker test sets up its
# own filesystem broker.
celery_app.conf.broker_url = "memory://"
celery_app.conf.broker_transport_options = {}

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_DOCS = FIXTURES / "docs"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _media_root(settings: object, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]


@pytest.fixture
def fixture_docs() -> Path:
    return FIXTURE_DOCS

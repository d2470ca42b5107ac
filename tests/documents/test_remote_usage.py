"""OpenAI vector-store storage, recorded on the corpus for usage accounting."""

from __future__ import annotations

import logging

import pytest

from documents import services
from documents.models import Corpus
from tests.documents.conftest import HANDBOOK, ingest, upload_text
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db

STORE = r"^/v1/vector_stores/[^/]+$"


@pytest.fixture
def server(fake_openai: FakeOpenAIServer, settings) -> FakeOpenAIServer:
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "test"
    settings.OPENAI_MAX_RETRIES = 0
    fake_openai.processing_polls = 0
    return fake_openai


@pytest.fixture
def remote(server) -> Corpus:
    return services.corpus_create(name="Remote", slug="remote", index_backend="openai")


def store_usage(server: FakeOpenAIServer, corpus: Corpus) -> int:
    corpus.refresh_from_db()
    return int(server.state.vector_stores[corpus.vector_store_id].to_wire()["usage_bytes"])


def test_ingestion_and_deletion_record_the_store_usage(server, remote):
    document = ingest(upload_text(remote, HANDBOOK))
    assert document.status == "ready", document.error
    remote.refresh_from_db()
    assert remote.remote_usage_bytes == store_usage(server, remote) > 0
    assert remote.remote_usage_updated_at is not None

    second = ingest(upload_text(remote, "Parking is free after six.", "parking.txt"))
    remote.refresh_from_db()
    assert remote.remote_usage_bytes == store_usage(server, remote)

    services.document_delete(document=document)
    services.document_delete(document=second)
    remote.refresh_from_db()
    assert remote.remote_usage_bytes == 0


def test_a_failure_to_read_the_usage_does_not_fail_the_ingestion(server, remote, caplog):
    server.fail_next("GET", STORE, status=500)
    with caplog.at_level(logging.WARNING):
        document = ingest(upload_text(remote, HANDBOOK))
    assert document.status == "ready", document.error
    remote.refresh_from_db()
    assert remote.remote_usage_bytes is None
    assert "could not read vector store usage" in caplog.text

    assert services.corpus_refresh_remote_usage(corpus=remote) == store_usage(server, remote)
    remote.refresh_from_db()
    assert remote.remote_usage_bytes == store_usage(server, remote)


def test_local_corpora_have_no_remote_usage(corpus):
    assert services.corpus_refresh_remote_usage(corpus=corpus) is None
    corpus.refresh_from_db()
    assert corpus.remote_usage_bytes is None

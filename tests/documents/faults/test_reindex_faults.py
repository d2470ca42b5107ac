"""Re-indexing under faults, through a real worker: a corpus embedded by an OpenAI-compatible
embeddings server (the fake) is re-indexed while the server fails or the pool child is killed.
The accounting is ingestion's: provider retries apart from interruptions, and a redelivered
message takes its running re-index at once."""

from __future__ import annotations

import os
import signal

import pytest

from documents import services
from documents.models import Corpus, CorpusReindex
from documents.services import reindexing
from tests.documents.faults.conftest import upload, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MODEL = "text-embedding-3-small"
EMBEDDINGS = r"^/v1/embeddings$"
TEXTS = {
    "leave.md": "# Leave\n\nEvery employee has thirty days of paid leave per year.\n",
    "meals.md": "# Meals\n\nMeals are reimbursed up to 45 euros per day abroad.\n",
}


@pytest.fixture
def reindex_env(fault_env: dict[str, str], fake_openai) -> dict[str, str]:
    """The worker knows the embeddings server the way settings.py reads it."""
    return {
        **fault_env,
        "EMBEDDINGS_API_MODEL": MODEL,
        "EMBEDDINGS_API_BASE_URL": fake_openai.base_url,
        "EMBEDDINGS_API_KEY": "test",
        "EMBEDDINGS_API_DIMENSIONS": "1536",
    }


@pytest.fixture
def corpus(settings, fake_openai) -> Corpus:
    """A pgvector corpus embedded by the fake server, its two documents ingested here."""
    settings.OPENAI_MAX_RETRIES = 0
    settings.EMBEDDING_MODELS = {
        **settings.EMBEDDING_MODELS,
        MODEL: {
            "BACKEND": "documents.backends.embeddings.OpenAICompatibleEmbedder",
            "OPTIONS": {
                "model": MODEL,
                "base_url": fake_openai.base_url,
                "api_key": "test",
                "dimensions": 1536,
            },
        },
    }
    corpus = services.corpus_create(
        name="Reindex faults", index_backend="pgvector", embedding_model=MODEL
    )
    for name, text in TEXTS.items():
        document = upload(corpus, name, text)
        services.document_ingest(document_id=document.pk)
        document.refresh_from_db()
        assert document.status == "ready", document.error
    return corpus


def _start(corpus: Corpus, broker) -> CorpusReindex:
    reindex = reindexing.corpus_reindex_start(
        corpus=corpus,
        embedding_model=MODEL,
        chunk_size_tokens=64,
        chunk_overlap_tokens=8,
        started_by=None,
    )
    broker.send_task("documents.tasks.corpus_reindex_run", reindex_id=reindex.pk)
    return reindex


def _finished(reindex: CorpusReindex) -> bool:
    return CorpusReindex.objects.filter(pk=reindex.pk, status__in=["done", "failed"]).exists()


def test_server_errors_during_a_reindex_are_retries_not_interruptions(
    reindex_env, worker_factory, broker, corpus, fake_openai
):
    worker = worker_factory(reindex_env)
    # More failures than INGEST_MAX_ATTEMPTS (3): before, the fourth try said "interrupted".
    fake_openai.fail_next("POST", EMBEDDINGS, status=500, times=4)
    reindex = _start(corpus, broker)

    wait_for(lambda: _finished(reindex), timeout=120, what="the re-index", worker=worker)

    reindex.refresh_from_db()
    assert reindex.status == "done", reindex.error
    assert (reindex.attempts, reindex.retries) == (1, 4)
    log = worker.log
    for retry in (1, 2, 3, 4):
        assert f"re-index {reindex.pk}: temporary error, retry {retry} of 5" in log
    assert "temporarily unavailable (500)" in log
    assert "interrupted" not in log
    assert Corpus.objects.get(pk=corpus.pk).index_version == reindex.target_version


def test_a_redelivery_after_a_lost_pool_child_takes_the_reindex_at_once(
    reindex_env, worker_factory, broker, corpus, fake_openai
):
    worker = worker_factory(reindex_env)
    before = len(fake_openai.requests_to("POST", EMBEDDINGS))
    fake_openai.slow_next("POST", EMBEDDINGS, seconds=6)  # the pool child waits on it
    reindex = _start(corpus, broker)
    wait_for(
        lambda: len(fake_openai.requests_to("POST", EMBEDDINGS)) > before
        and CorpusReindex.objects.filter(pk=reindex.pk, status="running").exists(),
        timeout=60, what="the re-index to embed", worker=worker,
    )  # fmt: skip
    children = wait_for(worker.pool_children, timeout=10, what="the pool child", worker=worker)

    os.kill(children[0], signal.SIGKILL)

    # Its lease (120 s) still holds: the redelivered message must not wait for it.
    wait_for(lambda: _finished(reindex), timeout=60, what="the re-index", worker=worker)
    reindex.refresh_from_db()
    assert reindex.status == "done", reindex.error
    assert reindex.attempts == 2  # the lost child counts as an interruption
    assert reindex.retries == 0
    log = worker.log
    assert f"re-index {reindex.pk}: its message came back after the worker was lost" in log
    assert "not claimable" not in log

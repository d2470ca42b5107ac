from __future__ import annotations

import datetime as dt

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.utils import timezone

from documents import jobs, services, tasks
from documents.backends.base import IndexingError, Reindexable, get_backend
from documents.backends.pgvector_store import PgvectorBackend
from documents.models import Chunk, Corpus, CorpusReindex, Document
from documents.services import reindexing
from tests.documents.conftest import HANDBOOK, ingest, upload_text
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FLEET = """# Company cars

Company cars are leased for four years and replaced after 120,000 kilometres.
Fuel cards work at every station in the partner network.
"""

PARKING = """# Parking

Parking permits for the staff garage are renewed every January at the front desk.
"""

MEALS_QUESTION = "How much can I spend on meals abroad?"


@pytest.fixture
def indexed(corpus: Corpus) -> Corpus:
    for text, name in ((HANDBOOK, "handbook.md"), (FLEET, "fleet.md")):
        document = ingest(upload_text(corpus, text, name))
        assert document.status == "ready", document.error
    return corpus


def chunk_ids(corpus: Corpus, version: int) -> set[int]:
    return set(
        Chunk.objects.filter(corpus=corpus, index_version=version).values_list("pk", flat=True)
    )


def start(corpus: Corpus, *, size: int = 48, overlap: int = 8, **kwargs) -> CorpusReindex:
    return reindexing.corpus_reindex_start(
        corpus=corpus,
        embedding_model=kwargs.get("model", corpus.embedding_model),
        chunk_size_tokens=size,
        chunk_overlap_tokens=overlap,
        started_by=kwargs.get("user"),
    )


def test_reindex_builds_the_new_version_while_the_old_one_answers(
    indexed, django_capture_on_commit_callbacks, monkeypatch
):
    old_chunks = chunk_ids(indexed, 1)
    old_documents = list(Document.objects.filter(corpus=indexed).values_list("pk", flat=True))
    user = UserFactory(username="ops")
    with django_capture_on_commit_callbacks() as callbacks:
        reindex = start(indexed, user=user)
    assert len(callbacks) == 1  # enqueued once the row is committed
    assert (reindex.status, reindex.target_version, reindex.created_by) == ("queued", 2, user)
    indexed.refresh_from_db()
    # Nothing is edited in place: the corpus keeps its settings until the switch.
    assert (indexed.chunk_size_tokens, indexed.index_version) == (200, 1)

    seen: list[tuple[int, set[int], set[int], str]] = []
    build = reindexing._reindex_document

    def build_then_look(backend, row, document_id, mine):
        tokens = build(backend, row, document_id, mine)
        hits = services.corpus_search(corpus=indexed, query=MEALS_QUESTION, k=3)
        hit_ids = {hit.chunk_id for hit in hits}
        seen.append((document_id, hit_ids, chunk_ids(indexed, 1), hits[0].text))
        if len(seen) == 1:
            # A document uploaded while the re-index runs is indexed at the current version...
            added = ingest(upload_text(indexed, PARKING, "parking.md"))
            assert added.status == "ready", added.error
            assert Chunk.objects.filter(document=added, index_version=1).exists()
        return tokens

    monkeypatch.setattr(reindexing, "_reindex_document", build_then_look)
    reindexing.corpus_reindex_run(reindex_id=reindex.pk)

    # While it ran, search answered from version 1 only.
    for _, hit_ids, current, best in seen:
        assert hit_ids <= current
        assert "45 euros" in best
    # ... and is then included in the new version.
    parking = Document.objects.get(filename="parking.md")
    assert [document_id for document_id, *_ in seen] == [*sorted(old_documents), parking.pk]

    reindex.refresh_from_db()
    assert reindex.status == "done", reindex.error
    assert reindex.documents_done == reindex.documents_total == 3
    assert reindex.embedding_tokens > 0
    assert reindex.started_at is not None
    assert reindex.finished_at is not None
    indexed.refresh_from_db()
    assert (indexed.index_version, indexed.chunk_size_tokens, indexed.chunk_overlap_tokens) == (
        2,
        48,
        8,
    )
    assert not Chunk.objects.filter(corpus=indexed).exclude(index_version=2).exists()
    assert not chunk_ids(indexed, 2) & old_chunks
    for document in Document.objects.filter(corpus=indexed):
        built = Chunk.objects.filter(document=document, index_version=2)
        assert document.chunk_count == built.count() >= 1
        assert max(built.values_list("token_count", flat=True)) <= 48
    # Smaller chunks: the handbook is now split into several passages.
    assert Document.objects.get(filename="handbook.md").chunk_count > 1
    hits = services.corpus_search(corpus=indexed, query=MEALS_QUESTION, k=3)
    assert "45 euros" in hits[0].text
    assert {hit.chunk_id for hit in hits} <= chunk_ids(indexed, 2)


def test_running_the_task_twice_duplicates_nothing(indexed):
    reindex = start(indexed)
    tasks.corpus_reindex_run(reindex_id=reindex.pk)
    after_first = sorted(Chunk.objects.filter(corpus=indexed).values_list("pk", "index_version"))

    tasks.corpus_reindex_run(reindex_id=reindex.pk)

    assert sorted(Chunk.objects.filter(corpus=indexed).values_list("pk", "index_version")) == (
        after_first
    )
    reindex.refresh_from_db()
    assert (reindex.status, reindex.attempts, reindex.documents_done) == ("done", 1, 2)


def test_a_run_taken_over_after_a_crash_keeps_what_was_built(indexed):
    reindex = start(indexed)
    handbook = Document.objects.get(filename="handbook.md")
    backend = get_backend("pgvector")
    assert isinstance(backend, Reindexable)
    # The first worker built one document, then died: its lease ran out.
    backend.build_chunks(
        document=handbook,
        pages=list(handbook.pages.all()),
        markup="markdown",
        embedding_model=reindex.embedding_model,
        chunk_size_tokens=reindex.chunk_size_tokens,
        chunk_overlap_tokens=reindex.chunk_overlap_tokens,
        index_version=reindex.target_version,
        progress=lambda stage, fraction: None,
    )
    built = chunk_ids(indexed, 2)
    past = timezone.now() - dt.timedelta(minutes=1)
    CorpusReindex.objects.filter(pk=reindex.pk).update(
        status="running", attempts=1, lease_expires_at=past
    )

    reindexing.corpus_reindex_run(reindex_id=reindex.pk)

    reindex.refresh_from_db()
    assert (reindex.status, reindex.attempts, reindex.documents_done) == ("done", 2, 1)
    assert built <= chunk_ids(indexed, 2)  # the handbook was not built again


def test_a_running_reindex_is_not_taken_by_a_second_worker(indexed):
    reindex = start(indexed)
    CorpusReindex.objects.filter(pk=reindex.pk).update(
        status="running", attempts=1, lease_expires_at=timezone.now() + dt.timedelta(minutes=1)
    )
    reindexing.corpus_reindex_run(reindex_id=reindex.pk)
    assert not chunk_ids(indexed, 2)
    assert CorpusReindex.objects.get(pk=reindex.pk).attempts == 1


def test_a_failure_keeps_the_old_index_answering(indexed, monkeypatch):
    old_chunks = chunk_ids(indexed, 1)
    reindex = start(indexed, model="all-MiniLM-L6-v2", size=64)
    real_build = PgvectorBackend.build_chunks
    calls = []

    def build_once(self, **kwargs):
        calls.append(kwargs["document"].filename)
        if len(calls) == 2:
            raise IndexingError("The embeddings server refused the request.", retryable=False)
        return real_build(self, **kwargs)

    monkeypatch.setattr(PgvectorBackend, "build_chunks", build_once)
    reindexing.corpus_reindex_run(reindex_id=reindex.pk)

    reindex.refresh_from_db()
    assert reindex.status == "failed"
    assert reindex.error == (
        f"{calls[1]}: The embeddings server refused the request. The current index still answers."
    )
    assert reindex.finished_at is not None
    indexed.refresh_from_db()
    assert (indexed.index_version, indexed.chunk_size_tokens) == (1, 200)
    assert chunk_ids(indexed, 1) == old_chunks
    assert not chunk_ids(indexed, 2)  # what was built is dropped
    hits = services.corpus_search(corpus=indexed, query=MEALS_QUESTION, k=3)
    assert "45 euros" in hits[0].text

    # A new attempt gets a fresh version: nothing of the failed one can count.
    monkeypatch.setattr(PgvectorBackend, "build_chunks", real_build)
    again = start(indexed, size=64)
    assert again.target_version == 3
    reindexing.corpus_reindex_run(reindex_id=again.pk)
    indexed.refresh_from_db()
    assert (indexed.index_version, indexed.chunk_size_tokens) == (3, 64)


def test_a_temporary_error_queues_the_reindex_for_a_retry(indexed, monkeypatch):
    reindex = start(indexed)

    def unavailable(self, **kwargs):
        raise IndexingError("The embeddings server could not be reached.", retryable=True)

    monkeypatch.setattr(PgvectorBackend, "build_chunks", unavailable)
    with pytest.raises(reindexing.RetryableReindexError):
        reindexing.corpus_reindex_run(reindex_id=reindex.pk)
    reindex.refresh_from_db()
    assert reindex.status == "queued"
    assert "will retry" in reindex.error

    # Retries exhausted: the task's failure hook marks it failed.
    reindexing.corpus_reindex_mark_failed(reindex_id=reindex.pk, reason="Gave up.")
    reindex.refresh_from_db()
    assert (reindex.status, reindex.error) == (
        "failed",
        "Gave up. The current index still answers.",
    )
    assert Corpus.objects.get(pk=indexed.pk).index_version == 1


def test_temporary_errors_are_retries_not_interruptions(indexed, monkeypatch, settings):
    # More temporary errors than INGEST_MAX_ATTEMPTS (3): they must not read as interruptions.
    assert settings.INGEST_MAX_ATTEMPTS < 4 < settings.INGEST_PROVIDER_RETRIES
    reindex = start(indexed)
    real_build = PgvectorBackend.build_chunks
    failures = iter(range(4))

    def flaky(self, **kwargs):
        if next(failures, None) is not None:
            raise IndexingError(
                "The embeddings server is temporarily unavailable (503); will retry.",
                retryable=True,
            )
        return real_build(self, **kwargs)

    monkeypatch.setattr(PgvectorBackend, "build_chunks", flaky)
    for retry in range(4):  # the task retries under its own id, as Celery does
        with pytest.raises(reindexing.RetryableReindexError) as raised:
            reindexing.corpus_reindex_run(reindex_id=reindex.pk, claim_token=f"task-1#{retry}")
        assert raised.value.retry == retry + 1
        reindex.refresh_from_db()
        assert reindex.status == "queued"
        assert reindex.error == (
            "The embeddings server is temporarily unavailable (503); will retry "
            f"({retry + 1} of {settings.INGEST_PROVIDER_RETRIES})."
        )

    reindexing.corpus_reindex_run(reindex_id=reindex.pk, claim_token="task-1#4")

    reindex.refresh_from_db()
    assert (reindex.status, reindex.attempts, reindex.retries) == ("done", 1, 4)
    assert reindex.error == ""


def test_errors_past_the_retries_fail_with_the_providers_reason(indexed, monkeypatch, settings):
    settings.INGEST_PROVIDER_RETRIES = 2
    reindex = start(indexed)

    def unavailable(self, **kwargs):
        raise IndexingError(
            "The embeddings server is temporarily unavailable (503); will retry.", retryable=True
        )

    monkeypatch.setattr(PgvectorBackend, "build_chunks", unavailable)
    for retry in range(2):
        with pytest.raises(reindexing.RetryableReindexError):
            reindexing.corpus_reindex_run(reindex_id=reindex.pk, claim_token=f"task-1#{retry}")
    reindexing.corpus_reindex_run(reindex_id=reindex.pk, claim_token="task-1#2")

    reindex.refresh_from_db()
    assert (reindex.status, reindex.attempts, reindex.retries) == ("failed", 1, 2)
    assert reindex.error == (
        "The embeddings server is temporarily unavailable (503). Gave up after 2 retries. The "
        "current index still answers; start the re-index again once the problem is fixed."
    )
    assert Corpus.objects.get(pk=indexed.pk).index_version == 1


def test_a_redelivered_message_takes_its_running_reindex_at_once(indexed):
    reindex = start(indexed)
    # The message's first delivery claimed it; then its pool child was killed. The lease holds.
    assert jobs.claim(
        CorpusReindex.objects.all(), pk=reindex.pk, states=reindexing.REINDEX, token="task-7#0"
    )
    reindexing.corpus_reindex_run(reindex_id=reindex.pk, claim_token="task-9#0")
    assert CorpusReindex.objects.get(pk=reindex.pk).status == "running"  # another message waits

    reindexing.corpus_reindex_run(reindex_id=reindex.pk, claim_token="task-7#0")

    reindex.refresh_from_db()
    assert (reindex.status, reindex.attempts) == ("done", 2)  # the lost child: an interruption


def test_an_ingestion_that_chunked_before_the_switch_is_retried(indexed):
    reindex = start(indexed)
    reindexing.corpus_reindex_run(reindex_id=reindex.pk)
    handbook = Document.objects.get(filename="handbook.md")
    backend = get_backend("pgvector")
    assert isinstance(backend, Reindexable)
    with pytest.raises(IndexingError, match="re-indexed") as error:
        backend.build_chunks(
            document=handbook,
            pages=list(handbook.pages.all()),
            markup="markdown",
            embedding_model="all-MiniLM-L6-v2",
            chunk_size_tokens=200,
            chunk_overlap_tokens=30,
            index_version=1,
            progress=lambda stage, fraction: None,
        )
    assert error.value.retryable
    assert not Chunk.objects.filter(document=handbook, index_version=1).exists()


def test_reingesting_during_a_reindex_replaces_the_built_chunks_too(indexed):
    reindex = start(indexed)
    handbook = Document.objects.get(filename="handbook.md")
    backend = get_backend("pgvector")
    assert isinstance(backend, Reindexable)
    backend.build_chunks(
        document=handbook,
        pages=list(handbook.pages.all()),
        markup="markdown",
        embedding_model=reindex.embedding_model,
        chunk_size_tokens=reindex.chunk_size_tokens,
        chunk_overlap_tokens=reindex.chunk_overlap_tokens,
        index_version=2,
        progress=lambda stage, fraction: None,
    )
    services.document_reingest(document=handbook)
    ingest(handbook)
    # Rebuilt at the current version; the re-index builds the next one again from its pages.
    assert Chunk.objects.filter(document=handbook, index_version=1).exists()
    assert not Chunk.objects.filter(document=handbook, index_version=2).exists()
    reindexing.corpus_reindex_run(reindex_id=reindex.pk)
    assert Chunk.objects.filter(document=handbook, index_version=2).exists()


def test_search_reads_only_the_current_version(indexed):
    reindex = start(indexed)
    lease = jobs.claim(CorpusReindex.objects.all(), pk=reindex.pk, states=reindexing.REINDEX)
    for document in Document.objects.filter(corpus=indexed):
        reindexing._reindex_document(get_backend("pgvector"), reindex, document.pk, lease)
    assert chunk_ids(indexed, 2)
    for mode in ("hybrid", "vector", "fulltext"):
        hits = services.corpus_search(corpus=indexed, query="meal expenses abroad", k=20, mode=mode)
        assert hits
        assert {hit.chunk_id for hit in hits} <= chunk_ids(indexed, 1), mode


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": 200, "overlap": 30}, "already uses these settings"),
        ({"size": 10}, "Chunk size must be between 32"),
        ({"size": 64, "overlap": 40}, "Overlap must be between 0 and half"),
        ({"model": "no-such-model"}, "Unknown embedding model"),
    ],
)
def test_start_refuses_bad_or_unchanged_settings(indexed, changes, message):
    with pytest.raises(ValidationError, match=message):
        start(indexed, **changes)
    assert not CorpusReindex.objects.exists()


def test_start_refuses_while_one_is_queued_or_running(indexed):
    start(indexed)
    with pytest.raises(ValidationError, match="already being re-indexed"):
        start(indexed, size=64)
    assert CorpusReindex.objects.count() == 1


def test_start_refuses_corpora_indexed_at_openai(db, settings, fake_openai):
    corpus = services.corpus_create(name="Remote", slug="remote", index_backend="openai")
    with pytest.raises(ValidationError, match="nothing to re-index"):
        start(corpus)


def test_stale_reindexes_are_queued_again(indexed, django_capture_on_commit_callbacks):
    reindex = start(indexed)
    long_ago = timezone.now() - dt.timedelta(hours=1)
    CorpusReindex.objects.filter(pk=reindex.pk).update(
        status="running", lease_expires_at=long_ago, attempts=1
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert reindexing.corpus_reindexes_requeue_stale() == 1
    assert len(callbacks) == 1
    reindexing.corpus_reindex_run(reindex_id=reindex.pk)
    assert CorpusReindex.objects.get(pk=reindex.pk).status == "done"


def test_a_reindex_that_reaches_the_time_limit_continues_in_a_new_task(
    indexed, monkeypatch, django_capture_on_commit_callbacks
):
    reindex = start(indexed)
    build = reindexing._reindex_document
    calls = []

    def build_then_stop(*args):
        calls.append(args)
        if len(calls) == 2:
            raise SoftTimeLimitExceeded
        return build(*args)

    monkeypatch.setattr(reindexing, "_reindex_document", build_then_stop)
    with django_capture_on_commit_callbacks() as callbacks:
        reindexing.corpus_reindex_run(reindex_id=reindex.pk)
    assert len(callbacks) == 1  # the continuation
    reindex.refresh_from_db()
    assert (reindex.status, reindex.attempts, reindex.documents_done) == ("queued", 0, 1)

    monkeypatch.setattr(reindexing, "_reindex_document", build)
    reindexing.corpus_reindex_run(reindex_id=reindex.pk)
    reindex.refresh_from_db()
    assert (reindex.status, reindex.documents_done) == ("done", 2)
    assert Corpus.objects.get(pk=indexed.pk).index_version == 2

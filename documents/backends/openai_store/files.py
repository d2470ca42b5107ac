"""One document's File at OpenAI: the corpus's vector store, the upload, its entry in the
store and the wait while OpenAI processes it. Every step reuses what a previous attempt left,
so that a retried ingestion uploads and attaches nothing twice."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import openai
from django.conf import settings

from documents.backends.base import IndexingError, ProgressCallback
from documents.backends.failures import RemoteStoreMissing, provider_errors
from documents.models import Corpus, Document, DocumentStage
from documents.providers import reported_failure

if TYPE_CHECKING:
    from openai.types.vector_stores import VectorStoreFile

logger = logging.getLogger(__name__)

# The SDK's own default when a vector-store answer carries no openai-poll-after-ms header.
_DEFAULT_POLL_SECONDS = 1.0


def vector_store_id(*, client: openai.OpenAI, corpus: Corpus) -> str:
    """The corpus's vector store, created with its first document."""
    current = Corpus.objects.filter(pk=corpus.pk).values_list("vector_store_id", flat=True)
    stored = current.first()
    if stored is None:
        raise IndexingError("The corpus was deleted.", retryable=False)
    if stored:
        corpus.vector_store_id = stored
        return stored
    store = client.vector_stores.create(
        name=f"Docent: {corpus.name}",
        metadata={"docent_corpus_id": str(corpus.pk)},
    )
    won = Corpus.objects.filter(pk=corpus.pk, vector_store_id="").update(vector_store_id=store.id)
    if won:
        logger.info("corpus %s: created vector store %s", corpus.pk, store.id)
        corpus.vector_store_id = store.id
        return store.id
    # Another worker created the corpus's store at the same time; keep theirs.
    with unless_missing():
        client.vector_stores.delete(store.id)
    stored = current.first()
    if not stored:
        raise IndexingError("The corpus was deleted.", retryable=False)
    logger.info(
        "corpus %s: another worker created vector store %s; dropped %s",
        corpus.pk,
        stored,
        store.id,
    )
    corpus.vector_store_id = stored
    return stored


def upload(*, client: openai.OpenAI, document: Document) -> tuple[str, bool]:
    """The document's File at OpenAI: the one a previous attempt uploaded if it still exists,
    else a new upload. Returns (file id, reused)."""
    if document.remote_file_id:
        try:
            client.files.retrieve(document.remote_file_id)
        except openai.NotFoundError:
            logger.info(
                "document %s: file %s is gone at OpenAI; uploading again",
                document.pk,
                document.remote_file_id,
            )
        else:
            return document.remote_file_id, True
    if not document.file:
        raise IndexingError(
            "The original of this document is not stored and OpenAI no longer has it; "
            "upload the file again.",
            retryable=False,
        )
    if document.attempts > 1 or document.retries > 0:
        # An earlier try may have been cut off after OpenAI stored the file (a timeout, a
        # dropped connection, a killed worker): take that file instead of sending another.
        sent = sent_before(client=client, document=document)
        if sent is not None:
            logger.info(
                "document %s: an earlier try uploaded file %s; reusing it", document.pk, sent
            )
            return _record(client=client, document=document, file_id=sent), True
    with document.file.open("rb") as handle:
        data = handle.read()
    with provider_errors(refused="OpenAI refused this file"):
        # No SDK retries: a retry after a timeout would store the file once more; the task's
        # own retry looks for the stored file first (above).
        uploaded = client.with_options(max_retries=0).files.create(
            file=(document.filename, data), purpose="assistants"
        )
    file_id = _record(client=client, document=document, file_id=uploaded.id)
    logger.info("document %s: uploaded file %s (%s bytes)", document.pk, file_id, len(data))
    return file_id, False


def _record(*, client: openai.OpenAI, document: Document, file_id: str) -> str:
    """Write the File's id on the row at once, so that a retry reuses it."""
    kept = Document.objects.filter(pk=document.pk).update(remote_file_id=file_id)
    if not kept:
        with unless_missing():
            client.files.delete(file_id)
        raise IndexingError("The document was deleted.", retryable=False)
    document.remote_file_id = file_id
    return file_id


def sent_before(*, client: openai.OpenAI, document: Document) -> str | None:
    """A File an earlier try of this document's upload left at OpenAI: same name and size,
    stored after the document was uploaded here, referenced by no document. The newest wins
    (others are orphans for reconciliation)."""
    found = _left_behind(client=client, documents=[document], newest_only=True)
    return found[0][0] if found else None


def stray_uploads(
    *, client: openai.OpenAI, documents: Sequence[Document], exclude: set[str]
) -> list[tuple[str, int]]:
    """Files interrupted uploads of these documents left at OpenAI and nothing uses, as
    (file id, document id): found by the name and size an upload gives a File (the
    document's filename and its bytes), stored after the document was uploaded here,
    referenced by no document and not in `exclude` (the files attached to the store)."""
    return [
        (file_id, document_id)
        for file_id, document_id in _left_behind(client=client, documents=documents)
        if file_id not in exclude
    ]


def _left_behind(
    *, client: openai.OpenAI, documents: Sequence[Document], newest_only: bool = False
) -> list[tuple[str, int]]:
    if not documents:
        return []
    # (name, size) -> (earliest time an upload of it can date from, document id)
    wanted: dict[tuple[str, int], tuple[int, int]] = {}
    for document in documents:
        since = int(document.created_at.timestamp()) - 60  # clocks differ a little
        key = (document.filename, document.size_bytes)
        if key not in wanted or since < wanted[key][0]:
            wanted[key] = (since, document.pk)
    oldest = min(since for since, _ in wanted.values())
    referenced = set(
        Document.objects.exclude(remote_file_id="").values_list("remote_file_id", flat=True)
    )
    found = []
    with provider_errors():
        for remote in client.files.list(purpose="assistants", order="desc", limit=100):
            if remote.created_at < oldest:
                break
            match = wanted.get((remote.filename, remote.bytes))
            if match is None or remote.created_at < match[0] or remote.id in referenced:
                continue
            found.append((str(remote.id), match[1]))
            if newest_only:
                break
    return found


def attach(
    *, client: openai.OpenAI, document: Document, store_id: str, file_id: str, reused: bool
) -> tuple[VectorStoreFile, float]:
    """The file's entry in the store (reused when a previous attempt attached it) and how
    long to wait before polling it."""
    files = client.vector_stores.files
    if reused:
        try:
            raw = files.with_raw_response.retrieve(file_id, vector_store_id=store_id)
        except openai.NotFoundError:
            pass
        else:
            existing = raw.parse()
            if existing.status not in ("failed", "cancelled"):
                return existing, _poll_seconds(raw.headers)
            # A failed run is only retried (server_error) by attaching the file afresh.
            with unless_missing():
                files.delete(file_id, vector_store_id=store_id)
    try:
        raw = files.with_raw_response.create(
            store_id,
            file_id=file_id,
            attributes={
                "docent_document_id": str(document.pk),
                "docent_corpus_id": str(document.corpus_id),
                "filename": document.filename,
            },
        )
    except openai.NotFoundError:
        raise_if_store_missing(client=client, store_id=store_id)
        raise
    logger.info("document %s: attached file %s to store %s", document.pk, file_id, store_id)
    return raw.parse(), _poll_seconds(raw.headers)


def wait(
    *,
    client: openai.OpenAI,
    document: Document,
    vs_file: VectorStoreFile,
    poll_seconds: float,
    progress: ProgressCallback,
    timeout_seconds: float,
) -> VectorStoreFile:
    """Poll until OpenAI has processed the file, renewing the lease between polls.

    The SDK's files.poll() offers no hook between polls, hence this loop; like the SDK it
    waits as long as the openai-poll-after-ms header says.
    """
    started = time.monotonic()
    deadline = started + timeout_seconds
    # A sleep longer than the lease would let another worker take the document over.
    longest = max(1.0, settings.INGEST_LEASE_SECONDS / 4)
    polls = 0
    while vs_file.status == "in_progress":
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise IndexingError(
                f"OpenAI has not finished processing this file after {_duration(timeout_seconds)}; "
                "will check again later.",
                retryable=True,
            )
        _sleep(min(poll_seconds, remaining, longest))
        raw = client.vector_stores.files.with_raw_response.retrieve(
            vs_file.id, vector_store_id=vs_file.vector_store_id
        )
        vs_file = raw.parse()
        poll_seconds = _poll_seconds(raw.headers)
        polls += 1
        progress(DocumentStage.REMOTE_PROCESSING, 0.0)
    logger.info(
        "document %s: file %s %s at OpenAI after %s polls (%.1fs)",
        document.pk,
        vs_file.id,
        vs_file.status,
        polls,
        time.monotonic() - started,
    )
    return vs_file


def check_processed(*, document: Document, vs_file: VectorStoreFile) -> None:
    """Raise when OpenAI did not make the file searchable, with OpenAI's reason."""
    if vs_file.status == "failed":
        error = vs_file.last_error
        reason = error.message if error else "no reason given"
        failure = reported_failure(code=error.code if error else None, message=reason)
        logger.info(
            "document %s: OpenAI failed file %s (%s)", document.pk, vs_file.id, failure.code
        )
        raise IndexingError(
            f"OpenAI could not process this file: {reason}", retryable=failure.retryable
        )
    if vs_file.status != "completed":
        raise IndexingError("OpenAI cancelled processing of this file; will retry.", retryable=True)


def raise_if_store_missing(*, client: openai.OpenAI, store_id: str) -> None:
    """After a 404: RemoteStoreMissing if it is the vector store itself that is gone."""
    try:
        client.vector_stores.retrieve(store_id)
    except openai.NotFoundError as error:
        logger.warning("vector store %s no longer exists at OpenAI", store_id)
        raise RemoteStoreMissing(store_id) from error


@contextlib.contextmanager
def unless_missing() -> Iterator[None]:
    """Deleting something that is already gone is done."""
    with contextlib.suppress(openai.NotFoundError):
        yield


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # a seam for tests, which record the waits instead of waiting


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{round(seconds / 60)} minutes"
    return f"{max(1, round(seconds))} second{'s' if round(seconds) > 1 else ''}"


def _poll_seconds(headers: Any) -> float:
    value = headers.get("openai-poll-after-ms")
    try:
        return max(0.0, float(value) / 1000) if value is not None else _DEFAULT_POLL_SECONDS
    except ValueError:
        return _DEFAULT_POLL_SECONDS

"""The OpenAI index: one vector store per corpus, one uploaded File per document.

OpenAI extracts, chunks and embeds the files itself; Docent still parses every document
locally for its page map, which turns File Search passages into page-level citations
(documents/passages.py). Every OpenAI error is translated into IndexingError here.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import openai
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.utils import timezone

from documents.backends.base import IndexingError, IndexResult, ProgressCallback, SearchHit
from documents.models import Corpus, Document, DocumentStage, DocumentStatus, Page
from documents.passages import PageMap
from documents.providers import ProviderNotConfigured, openai_client

if TYPE_CHECKING:
    from openai.types import VectorStoreSearchResponse
    from openai.types.vector_stores import VectorStoreFile

    from documents.backends.base import SearchMode

logger = logging.getLogger(__name__)

# https://platform.openai.com/docs/api-reference/vector-stores/search: 1 to 50 results.
_MAX_SEARCH_RESULTS = 50
# The SDK's own default when a vector-store answer carries no openai-poll-after-ms header.
_DEFAULT_POLL_SECONDS = 1.0
_UNAVAILABLE = "OpenAI is temporarily unavailable ({status}); will retry."


@dataclass(frozen=True)
class RemoteStore:
    id: str
    name: str
    file_count: int


@dataclass(frozen=True)
class RemoteFile:
    """A file attached to a vector store, as adoption needs it."""

    file_id: str
    filename: str  # "" when the File itself was deleted at OpenAI
    size_bytes: int
    status: str  # in_progress, completed, failed or cancelled
    error: str  # OpenAI's reason when failed
    attributes: dict[str, str | float | bool] = field(default_factory=dict)


class OpenAIVectorStoreBackend:
    key: str

    def __init__(
        self,
        *,
        key: str,
        processing_timeout_seconds: float = 900,
        client: openai.OpenAI | None = None,
    ) -> None:
        if processing_timeout_seconds <= 0:
            raise ImproperlyConfigured("processing_timeout_seconds must be positive.")
        self.key = key
        self.processing_timeout_seconds = float(processing_timeout_seconds)
        self._injected = client
        self._client: openai.OpenAI | None = None
        self._client_settings: tuple[Any, ...] = ()

    def _openai(self) -> openai.OpenAI:
        if self._injected is not None:
            return self._injected
        # One instance serves the process (get_backend caches it); rebuild the client when the
        # OpenAI settings change so that a new key or base URL takes effect.
        current = (
            settings.OPENAI_BASE_URL,
            settings.OPENAI_API_KEY,
            settings.OPENAI_TIMEOUT_SECONDS,
            settings.OPENAI_MAX_RETRIES,
        )
        if self._client is None or current != self._client_settings:
            try:
                self._client = openai_client()
            except ProviderNotConfigured as error:
                raise IndexingError(str(error), retryable=False) from error
            self._client_settings = current
        return self._client

    # --- corpus lifecycle -------------------------------------------------------------------

    def prepare_corpus(self, *, corpus: Corpus) -> None:
        """The vector store is created with the first document: an empty corpus costs nothing
        at OpenAI, and creating a corpus works before an API key is configured."""

    def remove_corpus(self, *, corpus: Corpus) -> None:
        file_ids = list(
            corpus.documents.exclude(remote_file_id="").values_list("remote_file_id", flat=True)
        )
        if not corpus.vector_store_id and not file_ids:
            return
        client = self._openai()
        with _openai_errors():
            if corpus.vector_store_id:
                with _unless_missing():
                    client.vector_stores.delete(corpus.vector_store_id)
            for file_id in file_ids:
                with _unless_missing():
                    client.files.delete(file_id)
        logger.info(
            "corpus %s: deleted vector store %s and %s files at OpenAI",
            corpus.pk,
            corpus.vector_store_id or "-",
            len(file_ids),
        )

    def _vector_store_id(self, client: openai.OpenAI, corpus: Corpus) -> str:
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
        won = Corpus.objects.filter(pk=corpus.pk, vector_store_id="").update(
            vector_store_id=store.id
        )
        if won:
            logger.info("corpus %s: created vector store %s", corpus.pk, store.id)
            corpus.vector_store_id = store.id
            return store.id
        # Another worker created the corpus's store at the same time; keep theirs.
        with _unless_missing():
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

    # --- documents ------------------------------------------------------------------------

    def index_document(
        self,
        *,
        document: Document,
        pages: Sequence[Page],
        markup: str,
        progress: ProgressCallback,
    ) -> IndexResult:
        corpus = document.corpus
        progress(DocumentStage.UPLOADING, 0.0)
        client = self._openai()
        with _openai_errors():
            store_id = self._vector_store_id(client, corpus)
            file_id, reused = self._upload(client, document)
            progress(DocumentStage.UPLOADING, 1.0)
            vs_file, poll_seconds = self._attach(client, document, store_id, file_id, reused)
            progress(DocumentStage.REMOTE_PROCESSING, 0.0)
            vs_file = self._wait(client, document, vs_file, poll_seconds, progress)
        if vs_file.status == "failed":
            code = vs_file.last_error.code if vs_file.last_error else "server_error"
            reason = vs_file.last_error.message if vs_file.last_error else "no reason given"
            logger.info("document %s: OpenAI failed file %s (%s)", document.pk, file_id, code)
            raise IndexingError(
                f"OpenAI could not process this file: {reason}",
                retryable=code == "server_error",
            )
        if vs_file.status != "completed":
            raise IndexingError(
                "OpenAI cancelled processing of this file; will retry.", retryable=True
            )
        self.refresh_usage(corpus=corpus)
        # OpenAI chunks and embeds on its side and reports neither count.
        return IndexResult(chunk_count=0, embedding_tokens=0)

    def _upload(self, client: openai.OpenAI, document: Document) -> tuple[str, bool]:
        """The document's File at OpenAI: the one a previous attempt uploaded if it still
        exists, else a new upload. Returns (file id, reused)."""
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
        with document.file.open("rb") as handle:
            data = handle.read()
        with _openai_errors(refused="OpenAI refused this file"):
            uploaded = client.files.create(file=(document.filename, data), purpose="assistants")
        # Recorded at once, so that a retry reuses the upload instead of repeating it.
        kept = Document.objects.filter(pk=document.pk).update(remote_file_id=uploaded.id)
        if not kept:
            with _unless_missing():
                client.files.delete(uploaded.id)
            raise IndexingError("The document was deleted.", retryable=False)
        document.remote_file_id = uploaded.id
        logger.info("document %s: uploaded file %s (%s bytes)", document.pk, uploaded.id, len(data))
        return uploaded.id, False

    def _attach(
        self,
        client: openai.OpenAI,
        document: Document,
        store_id: str,
        file_id: str,
        reused: bool,
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
                with _unless_missing():
                    files.delete(file_id, vector_store_id=store_id)
        raw = files.with_raw_response.create(
            store_id,
            file_id=file_id,
            attributes={
                "docent_document_id": str(document.pk),
                "docent_corpus_id": str(document.corpus_id),
                "filename": document.filename,
            },
        )
        logger.info("document %s: attached file %s to store %s", document.pk, file_id, store_id)
        return raw.parse(), _poll_seconds(raw.headers)

    def _wait(
        self,
        client: openai.OpenAI,
        document: Document,
        vs_file: VectorStoreFile,
        poll_seconds: float,
        progress: ProgressCallback,
    ) -> VectorStoreFile:
        """Poll until OpenAI has processed the file, renewing the lease between polls.

        The SDK's files.poll() offers no hook between polls, hence this loop; like the SDK it
        waits as long as the openai-poll-after-ms header says.
        """
        started = time.monotonic()
        deadline = started + self.processing_timeout_seconds
        # A sleep longer than the lease would let another worker take the document over.
        longest = max(1.0, settings.INGEST_LEASE_SECONDS / 4)
        polls = 0
        while vs_file.status == "in_progress":
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waited = _duration(self.processing_timeout_seconds)
                raise IndexingError(
                    f"OpenAI has not finished processing this file after {waited}; "
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

    def remove_document(self, *, document: Document) -> None:
        if not document.remote_file_id:
            return
        client = self._openai()
        store_id = (
            Corpus.objects.filter(pk=document.corpus_id)
            .values_list("vector_store_id", flat=True)
            .first()
        )
        with _openai_errors():
            if store_id:
                with _unless_missing():
                    client.vector_stores.files.delete(
                        document.remote_file_id, vector_store_id=store_id
                    )
            with _unless_missing():
                client.files.delete(document.remote_file_id)
        logger.info("document %s: deleted file %s at OpenAI", document.pk, document.remote_file_id)
        if store_id:
            self.refresh_usage(corpus=document.corpus)

    # --- usage --------------------------------------------------------------------------------

    def store_usage_bytes(self, *, corpus: Corpus) -> int | None:
        """What OpenAI bills for the corpus's vector store, in bytes; None when the corpus has
        no store (yet) or OpenAI no longer has it."""
        store_id = (
            Corpus.objects.filter(pk=corpus.pk).values_list("vector_store_id", flat=True).first()
        )
        if not store_id:
            return None
        client = self._openai()
        with _openai_errors():
            try:
                store = client.vector_stores.retrieve(store_id)
            except openai.NotFoundError:
                return None
        return int(store.usage_bytes)

    def refresh_usage(self, *, corpus: Corpus) -> int | None:
        """Record the store's usage on the corpus. Accounting must never fail an ingestion or
        a deletion: problems are logged and the last recorded figure stays."""
        try:
            usage = self.store_usage_bytes(corpus=corpus)
        except IndexingError as error:
            logger.warning("corpus %s: could not read vector store usage: %s", corpus.pk, error)
            return None
        now = timezone.now()
        Corpus.objects.filter(pk=corpus.pk).update(
            remote_usage_bytes=usage, remote_usage_updated_at=now
        )
        corpus.remote_usage_bytes, corpus.remote_usage_updated_at = usage, now
        logger.info("corpus %s: vector store usage %s bytes", corpus.pk, usage)
        return usage

    # --- search ---------------------------------------------------------------------------

    def search(
        self, *, corpus: Corpus, query: str, k: int, mode: SearchMode = "hybrid"
    ) -> list[SearchHit]:
        if mode == "fulltext":
            raise IndexingError(
                "Full-text search is only available for corpora indexed locally (pgvector).",
                retryable=False,
            )
        query = query.strip()
        if not query or not corpus.vector_store_id:
            return []
        client = self._openai()
        started = time.perf_counter()
        with _openai_errors():
            page = client.vector_stores.search(
                corpus.vector_store_id,
                query=query,
                max_num_results=max(1, min(k, _MAX_SEARCH_RESULTS)),
            )
        results = list(page.data)
        documents = _ResultDocuments(corpus, results)
        maps: dict[int, PageMap] = {}
        hits: list[SearchHit] = []
        for result in results:
            document = documents.get(result)
            if document is None:
                continue  # another corpus's file, a document not ready, or an unknown file
            text = "\n".join(part.text for part in result.content)
            if document.pk not in maps:
                maps[document.pk] = PageMap(document.pages.all())
            where = maps[document.pk].locate(text)
            hits.append(
                SearchHit(
                    chunk_id=None,
                    document_id=document.pk,
                    document=document.filename,
                    page_start=where.page_start if where else None,
                    page_end=where.page_end if where else None,
                    char_start=where.char_start if where else None,
                    char_end=where.char_end if where else None,
                    text=text,
                    score=float(result.score),
                )
            )
        logger.debug(
            "search corpus=%s store=%s results=%s hits=%s ms=%.1f",
            corpus.pk,
            corpus.vector_store_id,
            len(results),
            len(hits),
            (time.perf_counter() - started) * 1000,
        )
        return hits[:k]

    # --- adoption of an existing vector store -------------------------------------------

    def retrieve_store(self, *, vector_store_id: str) -> RemoteStore | None:
        """The vector store, or None if it does not exist (or this API key cannot see it)."""
        client = self._openai()
        with _openai_errors():
            try:
                store = client.vector_stores.retrieve(vector_store_id)
            except openai.NotFoundError:
                return None
        return RemoteStore(id=store.id, name=store.name or "", file_count=store.file_counts.total)

    def list_store_files(self, *, vector_store_id: str) -> list[RemoteFile]:
        """Every file attached to the store (all pages), with its name and size from the
        Files API."""
        client = self._openai()
        remote: list[RemoteFile] = []
        with _openai_errors():
            for vs_file in client.vector_stores.files.list(vector_store_id, limit=100, order="asc"):
                try:
                    stored = client.files.retrieve(vs_file.id)
                except openai.NotFoundError:
                    filename, size = "", 0
                else:
                    filename, size = stored.filename, stored.bytes
                remote.append(
                    RemoteFile(
                        file_id=vs_file.id,
                        filename=filename,
                        size_bytes=size,
                        status=vs_file.status,
                        error=vs_file.last_error.message if vs_file.last_error else "",
                        attributes=dict(vs_file.attributes or {}),
                    )
                )
        return remote

    def download(self, *, file_id: str) -> bytes | None:
        """The File's content, or None when OpenAI refuses to hand it out (it does for
        purpose "assistants") or no longer has it."""
        client = self._openai()
        with _openai_errors():
            try:
                return client.files.content(file_id).read()
            except (openai.BadRequestError, openai.PermissionDeniedError, openai.NotFoundError):
                logger.info("file %s: OpenAI refused the download", file_id)
                return None


# --- helpers ------------------------------------------------------------------------------


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


class _ResultDocuments:
    """This corpus's ready documents that search results name, by id attribute and file id.

    The docent_document_id attribute only counts when the document's file is the result's
    file: an adopted store may carry ids that another Docent installation wrote.
    """

    def __init__(self, corpus: Corpus, results: Sequence[VectorStoreSearchResponse]) -> None:
        pks = {pk for result in results if (pk := _attribute_pk(result)) is not None}
        file_ids = {result.file_id for result in results}
        ready = Document.objects.filter(corpus=corpus, status=DocumentStatus.READY)
        rows = ready.filter(Q(pk__in=pks) | Q(remote_file_id__in=file_ids)).only(
            "pk", "filename", "remote_file_id"
        )
        self._by_pk = {document.pk: document for document in rows}
        self._by_file = {
            document.remote_file_id: document
            for document in self._by_pk.values()
            if document.remote_file_id
        }

    def get(self, result: VectorStoreSearchResponse) -> Document | None:
        pk = _attribute_pk(result)
        document = self._by_pk.get(pk) if pk is not None else None
        if document is not None and document.remote_file_id in ("", result.file_id):
            return document
        return self._by_file.get(result.file_id)


def _attribute_pk(result: VectorStoreSearchResponse) -> int | None:
    value = (result.attributes or {}).get("docent_document_id")
    return int(value) if isinstance(value, str) and value.isdigit() else None


@contextlib.contextmanager
def _unless_missing() -> Iterator[None]:
    """Deleting something that is already gone is done."""
    with contextlib.suppress(openai.NotFoundError):
        yield


@contextlib.contextmanager
def _openai_errors(*, refused: str = "OpenAI refused the request") -> Iterator[None]:
    try:
        yield
    except openai.OpenAIError as error:
        translated = _translate(error, refused=refused)
        logger.info(
            "OpenAI error %s (request %s): retryable=%s",
            getattr(error, "status_code", type(error).__name__),
            getattr(error, "request_id", None) or "-",
            translated.retryable,
        )
        raise translated from error


def _translate(error: openai.OpenAIError, *, refused: str) -> IndexingError:
    if isinstance(error, openai.APITimeoutError):
        return IndexingError("OpenAI did not answer in time; will retry.", retryable=True)
    if isinstance(error, openai.APIConnectionError):
        return IndexingError("OpenAI could not be reached; will retry.", retryable=True)
    if not isinstance(error, openai.APIStatusError):
        return IndexingError(f"Unexpected answer from OpenAI: {error}", retryable=False)
    status, message = error.status_code, _message(error)
    if status == 429:
        if "insufficient_quota" in (error.code, error.type):
            return IndexingError(
                f"OpenAI refused the request because the account's quota is used up: {message}",
                retryable=False,
            )
        return IndexingError("OpenAI is rate-limiting requests; will retry.", retryable=True)
    if status >= 500 or status in (408, 409):
        return IndexingError(_UNAVAILABLE.format(status=status), retryable=True)
    if status in (401, 403):
        return IndexingError(f"OpenAI rejected the API key: {message}", retryable=False)
    if status == 404:
        return IndexingError(f"OpenAI could not find it: {message}", retryable=False)
    # 400, 413, 415, 422: a bad or unsupported file, or one that is too large.
    return IndexingError(f"{refused}: {message}", retryable=False)


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)
    return error.message


__all__ = ["OpenAIVectorStoreBackend", "RemoteFile", "RemoteStore"]

"""Where a corpus is indexed: the contract every index backend implements, and its registry.

`settings.INDEX_BACKENDS` maps a key to {"BACKEND": dotted path, "OPTIONS": {...}}, like
Django's STORAGES. Corpus.index_backend stores the key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from documents.models import Corpus, Document, Page

SearchMode = Literal["hybrid", "vector", "fulltext"]


class IndexingError(Exception):
    """A backend failed. `str(error)` is a sentence a user can act on; `retryable` says whether
    trying again later may help (rate limits, timeouts, a server error) or not (bad file)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class IndexResult:
    chunk_count: int
    embedding_tokens: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int | None  # None when the passage lives only at a remote store
    document_id: int
    document: str  # filename
    page_start: int | None
    page_end: int | None
    char_start: int | None
    char_end: int | None
    text: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "document_id": self.document_id,
            "page": self.page_start,
            "page_end": self.page_end,
            "chunk_id": self.chunk_id,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "score": round(self.score, 6),
            "text": self.text,
        }


# progress(stage, fraction) -> None; also renews the document's lease.
ProgressCallback = Callable[[str, float], None]


@runtime_checkable
class IndexBackend(Protocol):
    """Indexes a document's pages into some store and searches a corpus.

    Constructors do no I/O. Implementations raise only IndexingError.
    """

    key: str

    def prepare_corpus(self, *, corpus: Corpus) -> None: ...

    def index_document(
        self, *, document: Document, pages: Sequence[Page], markup: str, progress: ProgressCallback
    ) -> IndexResult: ...

    def remove_document(self, *, document: Document) -> None: ...

    def remove_corpus(self, *, corpus: Corpus) -> None: ...

    def search(
        self, *, corpus: Corpus, query: str, k: int, mode: SearchMode = "hybrid"
    ) -> list[SearchHit]: ...


@functools.cache
def get_backend(key: str) -> IndexBackend:
    try:
        config = settings.INDEX_BACKENDS[key]
    except KeyError:
        raise IndexingError(
            f"Unknown index backend {key!r}; configured: {', '.join(settings.INDEX_BACKENDS)}.",
            retryable=False,
        ) from None
    backend = import_string(config["BACKEND"])(key=key, **config.get("OPTIONS", {}))
    assert isinstance(backend, IndexBackend)
    return backend


@receiver(setting_changed)
def _clear_backend_cache(*, setting: str, **kwargs: object) -> None:
    if setting == "INDEX_BACKENDS":
        get_backend.cache_clear()


__all__ = [
    "IndexBackend",
    "IndexResult",
    "IndexingError",
    "ProgressCallback",
    "SearchHit",
    "SearchMode",
    "get_backend",
]

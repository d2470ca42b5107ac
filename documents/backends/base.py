"""Where a corpus is indexed: the contract every index backend implements, the abilities a
backend may have beyond it, and the registry.

`settings.INDEX_BACKENDS` maps a key to {"BACKEND": dotted path, "OPTIONS": {...}}, like
Django's STORAGES. Corpus.index_backend stores the key.

Code that needs more than the contract asks for an ability, never for a class:
`isinstance(backend, Searchable)`, `isinstance(backend, Reindexable)`,
`isinstance(backend, RemoteStoreBackend)`. A new backend gets every feature whose ability it
implements, with no change anywhere else.
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
    from documents.backends.openai_store import RemoteFile, RemoteStore
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
    score: float  # the backend's ranking score (fused rank for hybrid search)
    # Cosine similarity of the passage to the query when the backend knows it: comparable
    # across queries, unlike `score`, so retrieval can judge whether anything relevant came up.
    similarity: float | None = None

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
    """Indexes a document's pages into some store and removes them again: what every backend
    does. Constructors do no I/O. Implementations raise only IndexingError."""

    key: str

    def prepare_corpus(self, *, corpus: Corpus) -> None: ...

    def index_document(
        self, *, document: Document, pages: Sequence[Page], markup: str, progress: ProgressCallback
    ) -> IndexResult: ...

    def remove_document(self, *, document: Document) -> None: ...

    def remove_corpus(self, *, corpus: Corpus) -> None: ...


# --- abilities ------------------------------------------------------------------------------


@runtime_checkable
class Searchable(Protocol):
    """Returns a corpus's passages that best match a query: what retrieval, manual-retrieval
    answers and the search API need. A mode the backend cannot serve raises IndexingError."""

    def search(
        self, *, corpus: Corpus, query: str, k: int, mode: SearchMode = "hybrid"
    ) -> list[SearchHit]: ...


@runtime_checkable
class Reindexable(Protocol):
    """Chunks and embeds documents itself, so a corpus can be rebuilt with new embedding or
    chunking settings as a new index version beside the one that keeps answering."""

    def ensure_vector_index(self, *, embedding_model: str) -> None: ...

    def build_chunks(
        self,
        *,
        document: Document,
        pages: Sequence[Page],
        markup: str,
        embedding_model: str,
        chunk_size_tokens: int,
        chunk_overlap_tokens: int,
        index_version: int,
        progress: ProgressCallback,
    ) -> IndexResult: ...


@runtime_checkable
class RemoteStoreBackend(Protocol):
    """Keeps each corpus in a provider's vector store (Corpus.vector_store_id): what the
    provider-side strategies (File Search, Assistants), storage accounting and the adoption of
    existing stores need."""

    def refresh_usage(self, *, corpus: Corpus) -> int | None: ...

    def retrieve_store(self, *, vector_store_id: str) -> RemoteStore | None: ...

    def list_store_files(self, *, vector_store_id: str) -> list[RemoteFile]: ...

    def download(self, *, file_id: str) -> bytes | None: ...


Ability = type[Searchable] | type[Reindexable] | type[RemoteStoreBackend]


def has_abilities(backend: object, abilities: Sequence[type]) -> bool:
    return all(isinstance(backend, ability) for ability in abilities)


def ability_names(abilities: Sequence[type]) -> str:
    """ "search" / "re-indexing" / "a remote vector store", for messages."""
    return ", ".join(_ABILITY_NAMES.get(ability, ability.__name__) for ability in abilities)


_ABILITY_NAMES: dict[type, str] = {
    Searchable: "search",
    Reindexable: "re-indexing",
    RemoteStoreBackend: "a remote vector store",
}


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
    "Ability",
    "IndexBackend",
    "IndexResult",
    "IndexingError",
    "ProgressCallback",
    "Reindexable",
    "RemoteStoreBackend",
    "SearchHit",
    "SearchMode",
    "Searchable",
    "ability_names",
    "get_backend",
    "has_abilities",
]

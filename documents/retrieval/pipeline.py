"""The retrieval pipeline and its plug-in point for stages.

`settings.RETRIEVAL_STAGES` is an ordered list of {"BACKEND": dotted path, "OPTIONS": {...}}:
each stage is built once (cached, cleared on `setting_changed`), says how many search
candidates it wants for `k` results, and turns one Retrieval into the next. A reranker, a
neighbour expansion or an abstention score is one module and one settings entry.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from documents.backends.base import IndexingError, Searchable, SearchHit, SearchMode, get_backend

if TYPE_CHECKING:
    from documents.models import Corpus

SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "vector", "fulltext")


@dataclass(frozen=True)
class Retrieval:
    corpus: Corpus
    query: str
    k: int
    hits: tuple[SearchHit, ...]
    # How likely the corpus answers the query at all, 0..1; None until a stage scores it.
    confidence: float | None = None
    # Whether the passages support an answer, by the scoring stage's threshold; None = unknown
    # (no such stage configured), which callers treat as supported.
    supported: bool | None = None
    # What each stage did, for provenance and debugging ({"rerank": "cross-encoder", ...}).
    trace: dict[str, Any] = field(default_factory=dict)

    def with_hits(self, hits: Sequence[SearchHit], **changes: Any) -> Retrieval:
        return replace(self, hits=tuple(hits), **changes)


@runtime_checkable
class RetrievalStage(Protocol):
    key: str

    def candidates(self, k: int) -> int:
        """How many search results this stage wants in order to return `k` good ones."""
        ...

    def apply(self, retrieval: Retrieval) -> Retrieval: ...


def corpus_search(
    *, corpus: Corpus, query: str, k: int = 10, mode: SearchMode = "hybrid"
) -> list[SearchHit]:
    """The backend's own ranking, without stages (the search API and the benchmarks' baseline)."""
    if not 1 <= k <= 100:
        raise ValidationError({"k": "k must be between 1 and 100."})
    if mode not in SEARCH_MODES:
        raise ValidationError({"mode": "mode must be hybrid, vector or fulltext."})
    backend = get_backend(corpus.index_backend)
    if not isinstance(backend, Searchable):
        raise IndexingError(
            f"The index backend {corpus.index_backend!r} cannot search its corpora.",
            retryable=False,
        )
    return backend.search(corpus=corpus, query=query, k=k, mode=mode)


def retrieve(
    *,
    corpus: Corpus,
    query: str,
    k: int,
    mode: SearchMode = "hybrid",
    stages: Sequence[RetrievalStage] | None = None,
) -> Retrieval:
    """Search, then every configured stage (or `stages`), then the best `k`."""
    stages = get_stages() if stages is None else stages
    wanted = max([k, *(stage.candidates(k) for stage in stages)])
    hits = corpus_search(corpus=corpus, query=query, k=min(wanted, 100), mode=mode)
    retrieval = Retrieval(corpus=corpus, query=query, k=k, hits=tuple(hits))
    for stage in stages:
        if not retrieval.hits:
            break
        retrieval = stage.apply(retrieval)
    return retrieval.with_hits(retrieval.hits[:k])


@functools.cache
def get_stages() -> tuple[RetrievalStage, ...]:
    built = []
    for config in settings.RETRIEVAL_STAGES:
        stage = import_string(config["BACKEND"])(**config.get("OPTIONS", {}))
        assert isinstance(stage, RetrievalStage)
        built.append(stage)
    return tuple(built)


@receiver(setting_changed)
def _clear_stage_cache(*, setting: str, **kwargs: object) -> None:
    if setting == "RETRIEVAL_STAGES":
        get_stages.cache_clear()

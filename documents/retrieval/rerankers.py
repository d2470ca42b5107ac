"""Rerankers: score (query, passage) pairs more carefully than the fused search ranking does.

`settings.RERANKERS` maps an alias to {"BACKEND": dotted path, "OPTIONS": {...}}, like
EMBEDDING_MODELS; RerankStage (stages.py) names the alias. Two kinds ship:

- HttpRerankEndpoint: a hosted or self-hosted rerank API. Cohere (`POST /v2/rerank` or
  `/v1/rerank`) and Jina (`POST /v1/rerank`) take {model, query, documents, top_n} and answer
  {results: [{index, relevance_score}]}; Hugging Face text-embeddings-inference (`POST /rerank`)
  takes {query, texts} and answers [{index, score}]. `flavour` picks the shape.
- SentenceTransformerCrossEncoder: a cross-encoder model directory already on disk. No weights
  ship with Docent and none are ever downloaded: the directory must exist.

Constructors do no I/O. Failures raise RerankError (an IndexingError, with `retryable`).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from documents.backends.base import IndexingError

if TYPE_CHECKING:
    import httpx2

logger = logging.getLogger(__name__)

Flavour = Literal["cohere", "jina", "tei"]
FLAVOURS: tuple[Flavour, ...] = ("cohere", "jina", "tei")


class RerankError(IndexingError):
    """A reranker failed; `str(error)` says what to fix, `retryable` whether waiting helps."""


@runtime_checkable
class Reranker(Protocol):
    alias: str

    def rerank(self, *, query: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text, in the order of `texts`; higher is more relevant.
        Scores are comparable within one call only."""
        ...


class HttpRerankEndpoint:
    """Any Cohere-, Jina- or TEI-style rerank endpoint over HTTP(S); `url` is the full
    endpoint URL (https://api.cohere.com/v2/rerank, http://tei:8080/rerank, ...)."""

    def __init__(
        self,
        *,
        alias: str,
        url: str,
        flavour: Flavour = "cohere",
        model: str = "",
        api_key: str = "",
        timeout_seconds: float = 5.0,
        client: httpx2.Client | None = None,
    ) -> None:
        if flavour not in FLAVOURS:
            raise RerankError(
                f"Unknown rerank API flavour {flavour!r}; use one of {', '.join(FLAVOURS)}.",
                retryable=False,
            )
        self.alias = alias
        self.url = url
        self.flavour = flavour
        self.model = model
        self._api_key = api_key
        self._timeout = timeout_seconds
        self._client = client
        self._lock = threading.Lock()

    def _http(self) -> httpx2.Client:
        # httpx2 comes with the openai SDK; imported here so settings never load it.
        import httpx2

        with self._lock:
            if self._client is None:
                headers = {"Accept": "application/json"}
                if self._api_key:
                    headers["Authorization"] = f"Bearer {self._api_key}"
                self._client = httpx2.Client(
                    headers=headers, timeout=httpx2.Timeout(self._timeout), trust_env=False
                )
            return self._client

    def _payload(self, query: str, texts: Sequence[str]) -> dict[str, Any]:
        if self.flavour == "tei":
            # TEI refuses texts over the model's window unless told to truncate them.
            return {"query": query, "texts": list(texts), "truncate": True}
        payload: dict[str, Any] = {"query": query, "documents": list(texts), "top_n": len(texts)}
        if self.model:
            payload["model"] = self.model
        return payload

    def rerank(self, *, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        import httpx2

        service = f"The rerank endpoint {self.alias!r}"
        try:
            response = self._http().post(self.url, json=self._payload(query, texts))
        except httpx2.TimeoutException as error:
            raise RerankError(f"{service} did not answer in time.", retryable=True) from error
        except httpx2.HTTPError as error:
            raise RerankError(
                f"{service} could not be reached ({type(error).__name__}).", retryable=True
            ) from error
        if response.status_code != 200:
            raise _status_error(service, response)
        try:
            body = response.json()
        except ValueError as error:
            raise RerankError(f"{service} answered with invalid JSON.", retryable=True) from error
        return _scores(service, body, self.flavour, len(texts))


def _status_error(service: str, response: httpx2.Response) -> RerankError:
    status = response.status_code
    detail = response.text[:200].strip()
    if status in (401, 403):
        return RerankError(f"{service} rejected the API key ({status}): {detail}", retryable=False)
    if status == 429 or status >= 500:
        return RerankError(f"{service} is unavailable ({status}).", retryable=True)
    return RerankError(f"{service} refused the request ({status}): {detail}", retryable=False)


def _scores(service: str, body: Any, flavour: Flavour, count: int) -> list[float]:
    """Scores in input order. A text the endpoint left out ranks last."""
    rows = body if flavour == "tei" else (body.get("results") if isinstance(body, dict) else None)
    field = "score" if flavour == "tei" else "relevance_score"
    if not isinstance(rows, list):
        raise RerankError(f"{service} answered in an unexpected shape.", retryable=False)
    scores = [float("-inf")] * count
    for row in rows:
        try:
            index, score = int(row["index"]), float(row[field])
        except (KeyError, TypeError, ValueError) as error:
            raise RerankError(
                f"{service} answered in an unexpected shape (no index or {field}).",
                retryable=False,
            ) from error
        if not 0 <= index < count:
            raise RerankError(f"{service} scored a text it was not sent.", retryable=False)
        scores[index] = score
    return scores


class SentenceTransformerCrossEncoder:
    """A sentence-transformers cross-encoder read from `model_path`, loaded on first use.
    Docent ships no reranker weights: put a model directory there yourself."""

    def __init__(
        self,
        *,
        alias: str,
        model_path: str,
        batch_size: int = 16,
        max_length: int = 512,
        threads: int = 0,
    ) -> None:
        self.alias = alias
        self._model_path = model_path
        self._batch_size = batch_size
        self._max_length = max_length
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                path = Path(self._model_path)
                if not (path / "config.json").is_file():
                    raise RerankError(
                        f"The cross-encoder {self.alias!r} has no model at {path} (no "
                        "config.json there). Docent ships no reranker weights and never "
                        "downloads them: copy a model directory to that path.",
                        retryable=False,
                    )
                # Weights come from disk only; never let a library reach for a hub.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                import torch
                from sentence_transformers import CrossEncoder

                if self._threads:
                    torch.set_num_threads(self._threads)
                try:
                    self._model = CrossEncoder(
                        str(path),
                        device="cpu",
                        local_files_only=True,
                        max_length=self._max_length,
                    )
                except (OSError, ValueError) as error:
                    raise RerankError(
                        f"The cross-encoder {self.alias!r} could not be loaded from {path}: "
                        f"{error}",
                        retryable=False,
                    ) from error
                logger.info("loaded cross-encoder %s from %s", self.alias, path)
            return self._model

    def rerank(self, *, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        scores = self._load().predict(
            [(query, text) for text in texts],
            batch_size=self._batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return [float(score) for score in scores]


@functools.cache
def get_reranker(alias: str) -> Reranker:
    try:
        config = settings.RERANKERS[alias]
    except KeyError:
        raise RerankError(
            f"Unknown reranker {alias!r}; configured: {', '.join(settings.RERANKERS) or 'none'}.",
            retryable=False,
        ) from None
    reranker = import_string(config["BACKEND"])(alias=alias, **config.get("OPTIONS", {}))
    assert isinstance(reranker, Reranker)
    return reranker


@receiver(setting_changed)
def _clear_reranker_cache(*, setting: str, **kwargs: object) -> None:
    if setting == "RERANKERS":
        get_reranker.cache_clear()

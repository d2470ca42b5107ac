"""all-MiniLM-L6-v2 run by ONNX Runtime instead of torch, from a build of the packaged weights.

The build (fp32, or int8 by dynamic quantisation) is made on first use and cached under the
data folder (documents/backends/onnx_export.py). If it cannot be built or ONNX Runtime fails,
this process logs why and embeds with torch from then on: slower, never down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from documents.backends.embeddings import (
    Embeddings,
    SentenceTransformerEmbedder,
    _bundled_model_dir,
    bundled_tokenizer,
)
from documents.backends.onnx_export import onnx_build

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)


class OnnxEmbedder:
    """The same model and tokenizer as SentenceTransformerEmbedder, run by ONNX Runtime."""

    def __init__(
        self,
        *,
        alias: str,
        dimensions: int,
        max_tokens: int,
        cache_dir: str,
        variant: str = "fp32",
        batch_size: int = 32,
        model_path: str | None = None,
        threads: int = 0,
        vector_space: str | None = None,
    ) -> None:
        self.alias = alias
        self.dimensions = dimensions
        self.max_tokens = max_tokens - 2  # the window counts [CLS] and [SEP]
        self.batch_size = batch_size
        self.variant = variant
        self.vector_space = vector_space or alias
        self._window = max_tokens
        self._cache_dir = Path(cache_dir)
        self._model_path = model_path
        self._threads = threads
        self._session: Any = None
        self._encoder: Tokenizer | None = None
        self._lock = threading.Lock()
        self.fallback: SentenceTransformerEmbedder | None = None
        self._torch = SentenceTransformerEmbedder(
            alias=alias,
            dimensions=dimensions,
            max_tokens=max_tokens,
            batch_size=batch_size,
            model_path=model_path,
            threads=threads,
        )

    def tokenizer(self) -> Tokenizer:
        return bundled_tokenizer(self._model_path)

    def _load(self) -> Any:
        """The ONNX Runtime session, or None once this process has fallen back to torch."""
        with self._lock:
            if self._session is None and self.fallback is None:
                try:
                    self._session, self._encoder = self._open()
                except Exception:
                    self._fall_back("could not be built or loaded")
            return self._session

    def _open(self) -> tuple[Any, Tokenizer]:
        import onnxruntime
        from tokenizers import Tokenizer

        model_dir = Path(self._model_path) if self._model_path else _bundled_model_dir()
        path = onnx_build(model_dir=model_dir, cache_dir=self._cache_dir, variant=self.variant)
        options = onnxruntime.SessionOptions()
        if self._threads:
            options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        # Its own copy: the shared bundled tokenizer must stay without truncation and padding.
        encoder = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        encoder.enable_truncation(max_length=self._window)
        encoder.enable_padding()
        logger.info("loaded embedding model %s (ONNX %s) from %s", self.alias, self.variant, path)
        return session, encoder

    def _fall_back(self, why: str) -> None:
        logger.exception(
            "embedding model %s: the ONNX %s model %s; embedding with torch in this process",
            self.alias,
            self.variant,
            why,
        )
        self._session = None
        self.fallback = self._torch

    def _run(self, texts: list[str]) -> tuple[NDArray[np.float32], int] | None:
        session = self._load()
        if session is None:
            return None
        assert self._encoder is not None
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        tokens = 0
        # Longest first and in batches of similar length, as sentence-transformers does, so
        # little of each batch is padding.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        try:
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                encodings = self._encoder.encode_batch([texts[i] for i in rows])
                mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
                feed = {
                    "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
                    "attention_mask": mask,
                    "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
                }
                vectors[rows] = session.run(None, feed)[0]
                tokens += int(mask.sum())
        except Exception:
            with self._lock:
                self._fall_back("failed while embedding")
            return None
        # The graph normalises; int8 rounding leaves norms a hair off 1.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32), tokens

    def embed(
        self, texts: Sequence[str], *, token_counts: Sequence[int] | None = None
    ) -> Embeddings:
        if not texts:
            return Embeddings(np.zeros((0, self.dimensions), dtype=np.float32), 0)
        result = self._run(list(texts))
        if result is None:
            return self._torch.embed(texts, token_counts=token_counts)
        # The attention masks count what the model read, [CLS] and [SEP] included.
        return Embeddings(*result)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        result = self._run([text])
        if result is None:
            return self._torch.embed_query(text)
        vector: NDArray[np.float32] = result[0][0]
        return vector

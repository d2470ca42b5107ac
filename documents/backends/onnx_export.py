"""ONNX builds of the packaged all-MiniLM-L6-v2, made on this machine from the package's weights.

The first process that needs a build exports it (torch.onnx, mean pooling and L2 normalisation
inside the graph) and, for int8, quantises it with ONNX Runtime's dynamic quantisation. Builds
are kept in a folder named after a fingerprint of the weights and of this recipe, written to a
temporary file and renamed into place, under a file lock: several worker processes starting at
once export once, and none ever reads half a file. Nothing is fetched from a model hub.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Bump when the export or quantisation below changes: older builds are then left unused.
RECIPE_VERSION = 1
VARIANTS = ("fp32", "int8")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "sentence_embedding"
_LOCK_TIMEOUT_SECONDS = 900


def onnx_build(*, model_dir: Path, cache_dir: Path, variant: str) -> Path:
    """The path of the `variant` build of the sentence-transformers model in `model_dir`,
    exported into `cache_dir` if no process has done so yet."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown ONNX variant {variant!r}; choose one of {', '.join(VARIANTS)}.")
    from filelock import FileLock

    folder = cache_dir / f"{model_dir.name}-onnx-{_fingerprint(model_dir)}"
    target = folder / f"model-{variant}.onnx"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".build.lock"), timeout=_LOCK_TIMEOUT_SECONDS):
        # Another process may have built it while this one waited for the lock.
        if target.exists():
            return target
        fp32 = folder / "model-fp32.onnx"
        if not fp32.exists():
            _write_atomically(fp32, lambda path: _export(model_dir, path))
        if variant == "int8":
            _write_atomically(target, lambda path: _quantize(fp32, path))
    logger.info("built the %s ONNX model of %s in %s", variant, model_dir.name, folder)
    return target


def _fingerprint(model_dir: Path) -> str:
    digest = hashlib.sha256(f"recipe {RECIPE_VERSION}\n".encode())
    for name in ("config.json", "model.safetensors", "1_Pooling/config.json"):
        path = model_dir / name
        if path.exists():
            with path.open("rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


def _write_atomically(target: Path, write: Any) -> None:
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    partial = Path(name)
    try:
        write(partial)
        # mkstemp makes the file private; the build is as readable as any installed file.
        partial.chmod(0o644)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _export(model_dir: Path, path: Path) -> None:
    import torch
    from transformers import AutoModel

    # Eager attention traces to plain ONNX operators that ONNX Runtime fuses itself.
    encoder = AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager"
    ).eval()

    class MeanPooled(torch.nn.Module):
        """The encoder followed by sentence-transformers' mean pooling and Normalize."""

        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    sample = torch.ones((2, 8), dtype=torch.long)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns about shape checks in transformers' mask code; the tests compare
        # the build with torch on other batch sizes and lengths.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            MeanPooled(encoder).eval(),
            (sample, sample, torch.zeros_like(sample)),
            str(path),
            dynamo=False,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={**dynamic, OUTPUT_NAME: {0: "batch"}},
            opset_version=17,
        )


def _quantize(fp32: Path, path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel scales keep the vectors within ~0.99 cosine of fp32 (per-tensor: ~0.94);
    # 7-bit weights (reduce_range) avoid the int8 overflow of CPUs without VNNI.
    quantize_dynamic(
        str(fp32), str(path), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
    )

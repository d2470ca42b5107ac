"""Optical character recognition for pages that are pictures of text (scans, photos, images).

`settings.OCR_ENGINE` picks the engine: "rapidocr" (the default, installed with the project:
PP-OCR models that ship inside its wheel, run by ONNX Runtime), "tesseract" (the `tesseract`
program, where the system has it) or "none" (scans are refused as before, asking for OCR).
Engines load their models on first use, once per process, and serialise calls to them.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import functools
import io
import logging
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from PIL import Image

    from documents.parsing.base import ParsedPage

logger = logging.getLogger(__name__)

# The ingestion stage whose progress OCR reports (documents.models.DocumentStage.OCR).
OCR_STAGE = "ocr"

_DEFAULTS: dict[str, Any] = {
    "OCR_ENGINE": "rapidocr",
    # 200 DPI reads 9-point print reliably; 300 doubles the time for little gain on 2 cores.
    "OCR_DPI": 200,
    "OCR_MAX_PAGES": 100,  # per document: past this, scanned pages stay without text
    "OCR_LOW_CONFIDENCE": 0.8,
    "OCR_LANGUAGES": "eng",  # Tesseract's language packs, "eng+deu"
}


def ocr_setting(name: str) -> Any:
    # Parsing also runs without Django set up (`pytest -p no:django`, scripts).
    if not settings.configured:
        return _DEFAULTS[name]
    return getattr(settings, name, _DEFAULTS[name])


@dataclass(frozen=True)
class OcrResult:
    text: str  # lines in reading order, one per line
    confidence: float  # 0..1, the engine's mean over what it read; 0.0 when it read nothing


class OcrUnavailableError(Exception):
    """The configured engine cannot run here (not installed); scans stay without text."""


@runtime_checkable
class OcrEngine(Protocol):
    name: str

    def read(self, image: Image.Image) -> OcrResult: ...


class NoOcrEngine:
    """OCR switched off: scanned pages keep no text and are refused as before."""

    name = "none"

    def read(self, image: Image.Image) -> OcrResult:
        raise OcrUnavailableError("OCR is switched off (OCR_ENGINE=none)")


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self) -> None:
        self._engine: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._engine is None:
            try:
                from rapidocr import RapidOCR
            except ImportError as error:
                raise OcrUnavailableError("the rapidocr package is not installed") from error
            # The models are the ones inside the wheel; rapidocr downloads only when a model
            # file it is configured with is missing, which the defaults never are.
            self._engine = RapidOCR(params={"Global.log_level": "error"})
        return self._engine

    def read(self, image: Image.Image) -> OcrResult:
        import numpy as np

        pixels = np.asarray(image.convert("RGB"))
        with self._lock:
            output = self._load()(pixels)
        texts = list(output.txts or ())
        scores = list(output.scores or ())
        return _result(texts, scores)


class TesseractEngine:
    """The system's `tesseract` (Debian: tesseract-ocr, tesseract-ocr-<lang> packs)."""

    name = "tesseract"

    def read(self, image: Image.Image) -> OcrResult:
        program = shutil.which("tesseract")
        if program is None:
            raise OcrUnavailableError("the tesseract program is not installed")
        buffer = io.BytesIO()
        image.convert("L").save(buffer, format="PNG")
        # The program is found on PATH and the arguments are ours, not the user's.
        completed = subprocess.run(  # noqa: S603
            [program, "-", "-", "-l", str(ocr_setting("OCR_LANGUAGES")), "tsv"],
            input=buffer.getvalue(),
            capture_output=True,
            check=False,
            timeout=300,
        )
        if completed.returncode != 0:
            raise OcrUnavailableError(completed.stderr.decode("utf-8", "replace")[:300])
        return _parse_tsv(completed.stdout.decode("utf-8", "replace"))


def _parse_tsv(tsv: str) -> OcrResult:
    lines: dict[tuple[str, ...], list[tuple[str, float]]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        word = (row.get("text") or "").strip()
        conf = float(row.get("conf") or -1)
        if not word or conf < 0:
            continue
        key = tuple(row[k] for k in ("page_num", "block_num", "par_num", "line_num"))
        lines.setdefault(key, []).append((word, conf / 100))
    texts = [" ".join(word for word, _ in words) for words in lines.values()]
    scores = [sum(conf for _, conf in words) / len(words) for words in lines.values()]
    return _result(texts, scores)


def _result(texts: Sequence[str], scores: Sequence[float]) -> OcrResult:
    if not texts:
        return OcrResult(text="", confidence=0.0)
    # Weighted by length: a misread one-letter box should not sink a page of clean lines.
    weights = [max(len(text), 1) for text in texts]
    confidence = sum(w * float(s) for w, s in zip(weights, scores, strict=True)) / sum(weights)
    return OcrResult(text="\n".join(texts), confidence=round(confidence, 4))


ENGINES: dict[str, Callable[[], OcrEngine]] = {
    "rapidocr": RapidOcrEngine,
    "tesseract": TesseractEngine,
    "none": NoOcrEngine,
}


@functools.cache
def _engine(name: str) -> OcrEngine:
    try:
        return ENGINES[name]()
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise ImproperlyConfigured(f"OCR_ENGINE={name!r} is not one of {known}") from None


def get_engine() -> OcrEngine:
    return _engine(str(ocr_setting("OCR_ENGINE")))


def ocr_enabled() -> bool:
    return get_engine().name != "none"


@receiver(setting_changed)
def _forget_engine(*, setting: str, **kwargs: Any) -> None:
    if setting == "OCR_ENGINE":
        _engine.cache_clear()


# Ingestion's progress callback (stage, fraction), set around parse_file; parsers have no
# progress parameter because only OCR is slow enough to need one.
_progress: contextvars.ContextVar[Callable[[str, float], None] | None] = contextvars.ContextVar(
    "ocr_progress", default=None
)


@contextlib.contextmanager
def progress_reporting(callback: Callable[[str, float], None] | None) -> Iterator[None]:
    token = _progress.set(callback)
    try:
        yield
    finally:
        _progress.reset(token)


def report_progress(done: int, total: int) -> None:
    callback = _progress.get()
    if callback is not None and total:
        callback(OCR_STAGE, done / total)


# A page is blank when, inside its margins (where border lines, punch holes and page numbers
# sit), fewer than this share of its pixels stand out from the background: scanner specks, not
# a word (one short line of small print is ~0.03% of a page).
_BLANK_INK_SHARE = 0.0002
_BLANK_MARGIN = 0.05  # of the width and height, on each side
_INK_CONTRAST = 32  # grey levels away from the background that count as ink


def looks_blank(image: Image.Image) -> bool:
    """Whether a rendered page (or a scanned frame) is blank: one background colour with
    hardly any marks on it. OCR finding nothing there means an empty page, not a bad scan."""
    grey = image.convert("L")
    dx, dy = int(grey.width * _BLANK_MARGIN), int(grey.height * _BLANK_MARGIN)
    if dx and dy:
        grey = grey.crop((dx, dy, grey.width - dx, grey.height - dy))
    histogram = grey.histogram()
    total = sum(histogram)
    if not total:
        return True
    background = max(range(256), key=histogram.__getitem__)
    ink = sum(
        count for level, count in enumerate(histogram) if abs(level - background) > _INK_CONTRAST
    )
    return ink / total < _BLANK_INK_SHARE


def blank_page_warnings(numbers: Sequence[int]) -> list[str]:
    """One warning per blank page (the first ten; then one line for the rest)."""
    ordered = sorted(numbers)
    warnings = [f"Page {number} is blank; it has no text to search." for number in ordered[:10]]
    if len(ordered) > 10:
        rest = ordered[10:]
        shown = ", ".join(str(number) for number in rest[:10])
        more = f" and {len(rest) - 10} more" if len(rest) > 10 else ""
        warnings.append(f"{len(rest)} more pages are blank (pages {shown}{more}).")
    return warnings


def low_confidence_warnings(pages: Sequence[ParsedPage]) -> list[str]:
    threshold = float(ocr_setting("OCR_LOW_CONFIDENCE"))
    return [
        f"Page {page.number}: text read by OCR with low confidence "
        f"({round(page.ocr_confidence * 100)}%); it may contain errors."
        for page in pages
        if page.ocr and page.text and page.ocr_confidence is not None
        if page.ocr_confidence < threshold
    ]

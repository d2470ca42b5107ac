"""Images of text (PNG, JPEG, TIFF, including multi-page TIFF) read by OCR, one page per frame."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from documents.parsing import ocr
from documents.parsing.base import (
    FormatDeclaration,
    Markup,
    ParsedDocument,
    ParsedPage,
    ParseError,
    ParseErrorCode,
    Probe,
    check_page_count,
    corrupt,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

logger = logging.getLogger(__name__)

_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")
# The detector of both engines works on at most ~2000 px a side; larger only costs time.
_MAX_SIDE = 3000
_NO_OCR_MESSAGE = (
    "Images are read only by OCR, which is switched off here (OCR_ENGINE=none). Put the image "
    "in a PDF, run OCR on it (for example with ocrmypdf) and upload the PDF."
)
_REPAIR_ADVICE = "Open it in an image viewer, save it again as PNG and upload the new file."


def _sniff(probe: Probe) -> bool:
    return probe.head.startswith(_MAGIC)


def _review(pages: Sequence[ParsedPage]) -> list[str]:
    return ocr.low_confidence_warnings(pages)


DECLARATION = FormatDeclaration(
    name="images (PNG, JPEG, TIFF)",
    extensions=(".png", ".jpg", ".jpeg", ".tif", ".tiff"),
    mime_types=("image/png", "image/jpeg", "image/tiff"),
    container="binary",
    sniff=_sniff,
    no_text_message=(
        "OCR found no legible text in this image. If it has text, photograph or scan it again "
        "more sharply (300 DPI for scans) and upload the new file."
    ),
    review=_review,
)


class ImageParser:
    name = "image"
    markup: Markup = "text"
    declaration = DECLARATION

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument:
        engine = ocr.get_engine()
        if engine.name == "none":
            raise ParseError(_NO_OCR_MESSAGE, code=ParseErrorCode.OCR_UNAVAILABLE)
        try:
            with Image.open(path) as image:
                count = getattr(image, "n_frames", 1)
                check_page_count(count, max_pages=max_pages)
                limit = int(ocr.ocr_setting("OCR_MAX_PAGES"))
                pages, blank = [], []
                for index, frame in enumerate(ImageSequence.Iterator(image)):
                    if index >= limit:
                        break
                    ocr.report_progress(index, min(count, limit))
                    page, empty = _read_frame(engine, frame, number=index + 1)
                    pages.append(page)
                    if empty:
                        blank.append(page.number)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            # Pillow reports truncated and malformed files as OSError/SyntaxError/ValueError.
            logger.info("image %s: %s", path.name, type(error).__name__)
            raise corrupt("the image data is broken or incomplete", _REPAIR_ADVICE) from error
        except Image.DecompressionBombError as error:
            raise ParseError(
                "This image is too large to read (over 89 million pixels). Scale it down "
                "and upload it again.",
                code=ParseErrorCode.TOO_LARGE,
            ) from error
        except ocr.OcrUnavailableError as error:
            raise ParseError(
                f"Images are read only by OCR, which is unavailable here ({error}).",
                code=ParseErrorCode.OCR_UNAVAILABLE,
            ) from error
        if blank and len(blank) == len(pages):
            raise ParseError(
                f"This image is blank{' on every page' if len(pages) > 1 else ''}: there is "
                "nothing on it for OCR to read. Check that you chose the right file.",
                code=ParseErrorCode.NO_TEXT,
            )
        warnings = ocr.blank_page_warnings(blank)
        if count > limit:
            warnings.append(
                f"Only the first {limit} of {count} pages of this image were read by OCR. "
                "Split the file, or ask an administrator to raise OCR_MAX_PAGES."
            )
        return ParsedDocument(pages=pages, parser=self.name, markup=self.markup, warnings=warnings)


def _read_frame(
    engine: ocr.OcrEngine, frame: Image.Image, *, number: int
) -> tuple[ParsedPage, bool]:
    """The frame's page, and whether it is blank (OCR found nothing on an empty picture)."""
    # Phones store the camera's orientation in EXIF instead of turning the pixels.
    picture = ImageOps.exif_transpose(frame.convert("RGB"))
    if max(picture.size) > _MAX_SIDE:
        picture.thumbnail((_MAX_SIDE, _MAX_SIDE))
    result = engine.read(picture)
    blank = not result.text.strip() and ocr.looks_blank(picture)
    page = ParsedPage(number=number, text=result.text, ocr=True, ocr_confidence=result.confidence)
    return page, blank

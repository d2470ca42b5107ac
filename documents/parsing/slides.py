"""PowerPoint .pptx via python-pptx: one page per slide, title as a heading, notes at the end."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pptx import Presentation
from pptx.enum.shapes import PP_PLACEHOLDER
from pptx.shapes.group import GroupShape

from documents.parsing.base import (
    FormatDeclaration,
    Markup,
    ParsedDocument,
    ParsedPage,
    Probe,
    check_page_count,
    corrupt,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

logger = logging.getLogger(__name__)

# Repeated on every slide like a page header, so they only add noise to retrieval.
_BOILERPLATE = {PP_PLACEHOLDER.SLIDE_NUMBER, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.DATE}


def _sniff(probe: Probe) -> bool:
    return "ppt/presentation.xml" in probe.members


DECLARATION = FormatDeclaration(
    name="PowerPoint",
    extensions=(".pptx",),
    mime_types=("application/vnd.openxmlformats-officedocument.presentationml.presentation",),
    container="zip",
    sniff=_sniff,
    office=True,
)


class PptxParser:
    name = "pptx"
    markup: Markup = "markdown"
    declaration = DECLARATION

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument:
        try:
            presentation = Presentation(str(path))
            slides = list(presentation.slides)
        except Exception as error:  # python-pptx raises KeyError, ValueError, lxml errors, ...
            raise corrupt(f"the presentation could not be opened ({_reason(error)})") from error
        check_page_count(len(slides), max_pages=max_pages)
        pages, failed = [], []
        skipped: list[tuple[int, str]] = []
        for number, slide in enumerate(slides, start=1):
            try:
                text = _slide_text(slide, skipped=lambda what, n=number: skipped.append((n, what)))
            except Exception:  # one malformed slide must not cost the others
                logger.info("pptx slide %d could not be read", number, exc_info=True)
                failed.append(number)
                text = ""
            pages.append(ParsedPage(number=number, text=text, label=f"Slide {number}"))
        warnings = []
        if failed:
            listed = ", ".join(str(number) for number in failed)
            warnings.append(f"The text of slide(s) {listed} could not be read and is missing.")
        if skipped:
            listed = "; ".join(f"slide {n}, {what}" for n, what in skipped[:10])
            more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
            warnings.append(
                f"Some content could not be read and is not searchable: {listed}{more}."
            )
        return ParsedDocument(pages=pages, parser=self.name, markup=self.markup, warnings=warnings)


def _slide_text(slide: Any, *, skipped: Callable[[str], None]) -> str:
    """The slide as Markdown; `skipped(description)` hears of each shape that was left out."""
    blocks = []
    title = slide.shapes.title
    title_id = None
    if title is not None and title.has_text_frame:
        title_id = title.shape_id
        if heading := " ".join(_text(title.text_frame.text).split()):
            blocks.append(f"# {heading}")
    for shape in _shapes(slide.shapes):
        if shape.shape_id == title_id:
            continue
        try:
            blocks.extend(_shape_blocks(shape))
        except Exception as error:  # e.g. a chart type python-pptx does not model; keep the rest
            logger.debug("pptx shape %s could not be read", shape.shape_id, exc_info=True)
            skipped(_skipped_shape(shape, error))
    if slide.has_notes_slide:
        frame = slide.notes_slide.notes_text_frame
        if frame is not None and (notes := _text(frame.text).strip()):
            blocks.append(f"Notes:\n{notes}")
    return "\n\n".join(block for block in blocks if block.strip())


def _shapes(shapes: Iterable[Any]) -> Iterator[Any]:
    for shape in shapes:
        if isinstance(shape, GroupShape):
            yield from _shapes(shape.shapes)
        elif not (shape.is_placeholder and shape.placeholder_format.type in _BOILERPLATE):
            yield shape


def _shape_blocks(shape: Any) -> list[str]:
    if shape.has_text_frame:
        return [_text(shape.text_frame.text).strip()]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = []
        for row in shape.table.rows:
            cells = [" ".join(_text(c.text).split()) for c in row.cells if not c.is_spanned]
            if any(cells):
                rows.append(" | ".join(cells))
        return ["\n".join(rows)]
    if getattr(shape, "has_chart", False) and shape.has_chart:
        chart = shape.chart
        lines = []
        if chart.has_title and chart.chart_title.has_text_frame:
            lines.append(f"Chart: {_text(chart.chart_title.text_frame.text).strip()}")
        series = [s.name for plot in chart.plots for s in plot.series if s.name]
        if series:
            lines.append("Series: " + ", ".join(series))
        return ["\n".join(lines)]
    return []


def _text(text: str) -> str:
    # python-pptx reports a line break inside a paragraph (a:br) as a vertical tab.
    return text.replace("\v", "\n")


def _reason(error: Exception) -> str:
    return str(error).strip()[:150] or type(error).__name__


def _skipped_shape(shape: Any, error: Exception) -> str:
    """ "a chart (bar3DChart), 'Chart 3'", "an element, 'Picture 2'": what a reader of the
    warning can find in the presentation."""
    name = getattr(shape, "name", "") or f"shape {shape.shape_id}"
    if not getattr(shape, "has_chart", False):
        return f"an element named {name!r}"
    try:  # the plot's element name, e.g. bar3DChart, which python-pptx does not model
        plot_area = shape.chart._chartSpace.plotArea
        kinds = [
            child.tag.rsplit("}", 1)[-1]
            for child in plot_area.iterchildren()
            if str(child.tag).endswith("Chart")
        ]
    except Exception:
        kinds = []
    return f"a chart ({', '.join(kinds)}) named {name!r}" if kinds else f"a chart named {name!r}"

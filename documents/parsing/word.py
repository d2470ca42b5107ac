"""Word .docx: python-docx opens the package; the body is walked as XML in document order.

The walk matches element local names only, so the same code reads Strict OOXML (another
namespace, which python-docx cannot open) straight from the ZIP. Walking the XML ourselves also
keeps text that python-docx's paragraph API hides: text boxes, content controls, insertions,
equations, and the exact position of page breaks inside runs.
"""

from __future__ import annotations

import itertools
import logging
import re
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import docx
from docx.enum.style import WD_STYLE_TYPE
from lxml import etree

from documents.parsing.base import (
    FormatDeclaration,
    Markup,
    ParsedDocument,
    ParsedPage,
    ParseError,
    Probe,
    check_page_count,
    corrupt,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

logger = logging.getLogger(__name__)

# Property elements hold no text (and w:tabs in w:pPr would read as tab characters); deleted and
# moved-away text is not part of the document; mc:Fallback repeats its mc:Choice sibling.
_SKIP = {
    "pPr", "rPr", "tblPr", "trPr", "tcPr", "sdtPr", "sdtEndPr", "sectPr", "Fallback",
    "del", "moveFrom", "delText", "instrText", "footnoteReference", "endnoteReference",
}  # fmt: skip
# Content controls, custom XML and tracked insertions wrap paragraphs, tables, rows and cells.
_WRAPPERS = {"sdt", "sdtContent", "customXml", "ins", "moveTo", "smartTag"}
_PAGE_STARTS = {"nextPage", "oddPage", "evenPage"}  # section types that start a new page
_HEADING = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_MAX_PART_BYTES = 200 * 1024 * 1024
_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)


@dataclass
class _Pages:
    """Accumulates blocks page by page; page numbers follow Word's own page breaks."""

    pages: list[list[str]] = field(default_factory=lambda: [[]])
    text_since_break: bool = False
    last_was_item: bool = False

    def add(self, block: str, *, item: bool = False) -> None:
        if not block.strip():
            return
        page = self.pages[-1]
        if item and self.last_was_item and page:
            page[-1] += "\n" + block  # list items on consecutive lines make one markdown list
        else:
            page.append(block)
        self.text_since_break = True
        self.last_was_item = item

    def new_page(self, *, rendered: bool = False) -> None:
        # Word writes a w:lastRenderedPageBreak where the page after an explicit break begins;
        # that marks the break already counted, not a second one.
        if rendered and not self.text_since_break:
            return
        self.pages.append([])
        self.text_since_break = False
        self.last_was_item = False


def _sniff(probe: Probe) -> bool:
    return "word/document.xml" in probe.members


DECLARATION = FormatDeclaration(
    name="Word",
    extensions=(".docx",),
    mime_types=("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
    container="zip",
    sniff=_sniff,
    office=True,
)


class DocxParser:
    name = "docx"
    markup: Markup = "markdown"
    declaration = DECLARATION

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument:
        try:
            document = docx.Document(str(path))
            body = document.element.body
            styles = {
                style.style_id: (style.name or "", getattr(style.base_style, "style_id", None))
                for style in document.styles
                if style.type == WD_STYLE_TYPE.PARAGRAPH
            }
        except Exception as error:  # python-docx raises KeyError, ValueError, lxml errors, ...
            logger.info("python-docx could not open %s (%s); reading the XML", path.name, error)
            body, styles = _read_xml_directly(path)
        pages = _Pages()
        _Walker(styles=styles, pages=pages, sections=_section_starts(body)).blocks(body)
        check_page_count(len(pages.pages), max_pages=max_pages)
        return ParsedDocument(
            pages=[
                ParsedPage(number=number, text="\n\n".join(blocks))
                for number, blocks in enumerate(pages.pages, start=1)
            ],
            parser=self.name,
            markup=self.markup,
        )


def _read_xml_directly(path: Path) -> tuple[etree._Element, dict[str, tuple[str, str | None]]]:
    try:
        with zipfile.ZipFile(path) as archive:
            root = etree.fromstring(_read_part(archive, "word/document.xml"), _SAFE_XML)
            has_styles = "word/styles.xml" in archive.namelist()
            styles_xml = (
                etree.fromstring(_read_part(archive, "word/styles.xml"), _SAFE_XML)
                if has_styles
                else None
            )
    except ParseError:
        raise
    except Exception as error:  # zipfile, zlib and lxml errors on a damaged package
        reason = str(error).strip()[:150] or type(error).__name__
        raise corrupt(f"the Word document inside could not be read ({reason})") from error
    body = next((el for el in root if _name(el) == "body"), None)
    if body is None:
        raise corrupt("the Word document has no body")
    styles: dict[str, tuple[str, str | None]] = {}
    for style in styles_xml if styles_xml is not None else ():
        if _name(style) == "style" and _attr(style, "type") == "paragraph":
            children = {_name(child): _attr(child, "val") for child in style}
            styles[_attr(style, "styleId")] = (children.get("name", ""), children.get("basedOn"))
    return body, styles


def _read_part(archive: zipfile.ZipFile, name: str) -> bytes:
    if archive.getinfo(name).file_size > _MAX_PART_BYTES:
        raise corrupt(f"{name} is implausibly large")
    return archive.read(name)


def _name(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):  # comments and processing instructions
        return ""
    return tag.rpartition("}")[2]


def _attr(element: etree._Element, local: str) -> str:
    for key, value in element.attrib.items():
        if str(key).rpartition("}")[2] == local:
            return str(value)
    return ""


def _child(element: etree._Element, local: str) -> etree._Element | None:
    return next((child for child in element if _name(child) == local), None)


def _section_starts(body: etree._Element) -> dict[etree._Element, str]:
    """For each paragraph-level sectPr, how the section after it starts ("nextPage", ...).

    Keyed by the element itself: holding it keeps lxml handing out this same proxy object.
    """
    found = [
        el
        for el in body.iter()
        if _name(el) == "sectPr" and _name(el.getparent()) in ("pPr", "body")
    ]
    starts = {}
    for current, following in itertools.pairwise(found):
        kind = _child(following, "type")
        starts[current] = _attr(kind, "val") if kind is not None else "nextPage"
    return starts


@dataclass
class _Walker:
    styles: dict[str, tuple[str, str | None]]
    pages: _Pages
    sections: dict[etree._Element, str]

    def blocks(self, container: etree._Element) -> None:
        for child in container:
            name = _name(child)
            if name == "p":
                self.paragraph(child)
            elif name == "tbl":
                self.table(child)
            elif name in _WRAPPERS:
                self.blocks(child)

    def paragraph(self, p: etree._Element) -> None:
        prefix = self.prefix(p)
        for part in _runs(p):
            if part == _PAGE:
                self.pages.new_page()
            elif part == _RENDERED:
                self.pages.new_page(rendered=True)
            elif text := _tidy(part, single_line=bool(prefix)):
                self.pages.add(prefix + text, item=prefix.lstrip().startswith("-"))
                prefix = ""
        properties = _child(p, "pPr")
        section = _child(properties, "sectPr") if properties is not None else None
        if section is not None and (start := self.sections.get(section)) in _PAGE_STARTS:
            self.pages.new_page()
            odd = len(self.pages.pages) % 2 == 1
            if (start == "oddPage" and not odd) or (start == "evenPage" and odd):
                self.pages.new_page()  # Word leaves a blank page to start on the right side

    def prefix(self, p: etree._Element) -> str:
        properties = _child(p, "pPr")
        if properties is None:
            return ""
        style = _child(properties, "pStyle")
        names = self.style_names(_attr(style, "val") if style is not None else "")
        for name in names:
            if match := _HEADING.match(name):
                return "#" * min(int(match.group(1)), 6) + " "
            if name.lower() == "title":
                return "# "
        outline = _child(properties, "outlineLvl")
        level = _attr(outline, "val") if outline is not None else ""
        if level.isdigit() and int(level) < 9:  # 9 means body text
            return "#" * min(int(level) + 1, 6) + " "
        numbering = _child(properties, "numPr")
        if numbering is not None:
            number_id, indent = _child(numbering, "numId"), _child(numbering, "ilvl")
            if number_id is None or _attr(number_id, "val") != "0":
                depth = _attr(indent, "val") if indent is not None else ""
                return "  " * min(int(depth) if depth.isdigit() else 0, 8) + "- "
        if any(name.lower().startswith("list") for name in names):
            return "- "
        return ""

    def style_names(self, style_id: str) -> list[str]:
        names: list[str] = []
        seen: set[str] = set()
        while style_id and style_id not in seen and len(seen) < 20:
            seen.add(style_id)
            name, base = self.styles.get(style_id, (style_id, None))
            names.append(name)
            style_id = base or ""
        return names

    def table(self, tbl: etree._Element) -> None:
        rows: list[str] = []
        above: dict[int, str] = {}  # text of the cell each column's vertical merge started with
        for tr in _children(tbl, "tr"):
            if _has_rendered_break(tr):
                self.pages.add("\n".join(rows))
                rows = []
                self.pages.new_page(rendered=True)
            cells = []
            column = _grid_value(_child(tr, "trPr"), "gridBefore")
            for tc in _children(tr, "tc"):
                properties = _child(tc, "tcPr")
                merge = _child(properties, "vMerge") if properties is not None else None
                if merge is not None and _attr(merge, "val") in ("", "continue"):
                    text = above.get(column, "")
                else:
                    text = _tidy(_cell_text(tc), single_line=True)
                above[column] = text
                cells.append(text)
                column += max(_grid_value(properties, "gridSpan"), 1)
            if any(cells):
                rows.append(" | ".join(cells))
        self.pages.add("\n".join(rows))


def _grid_value(properties: etree._Element | None, local: str) -> int:
    element = _child(properties, local) if properties is not None else None
    value = _attr(element, "val") if element is not None else ""
    return int(value) if value.isdigit() else 0


_PAGE, _RENDERED = "\x00page", "\x00rendered"


def _runs(p: etree._Element) -> list[str]:
    """The paragraph as text pieces split by page-break markers (_PAGE or _RENDERED)."""
    parts: list[str] = []
    buffer: list[str] = []

    def walk(element: etree._Element) -> None:
        for child in element:
            name = _name(child)
            if not name or name in _SKIP:
                continue
            if name == "t":
                buffer.append(child.text or "")
            elif name in ("tab", "ptab"):
                buffer.append("\t")
            elif name == "br" and _attr(child, "type") == "page":
                parts.append("".join(buffer))
                parts.append(_PAGE)
                buffer.clear()
            elif name in ("br", "cr"):
                buffer.append("\n")
            elif name == "lastRenderedPageBreak":
                parts.append("".join(buffer))
                parts.append(_RENDERED)
                buffer.clear()
            elif name == "noBreakHyphen":
                buffer.append("-")
            elif name == "p":  # a paragraph in a text box inside this paragraph
                buffer.append("\n")
                walk(child)
                buffer.append("\n")
            else:
                walk(child)

    walk(p)
    parts.append("".join(buffer))
    return parts


def _children(element: etree._Element, local: str) -> Iterator[etree._Element]:
    """Children named `local`, looking through content controls and revision wrappers."""
    for child in element:
        name = _name(child)
        if name == local:
            yield child
        elif name in _WRAPPERS:
            yield from _children(child, local)


def _cell_text(tc: etree._Element) -> str:
    pieces = []
    for child in tc.iter():
        # Paragraphs of the cell and of tables nested in it, but not text-box paragraphs, which
        # _runs already reads as part of the paragraph that holds them.
        if _name(child) == "p" and not any(_name(a) == "p" for a in child.iterancestors("*")):
            pieces.append("".join(p for p in _runs(child) if p not in (_PAGE, _RENDERED)))
    return " ".join(piece.strip() for piece in pieces if piece.strip())


def _has_rendered_break(tr: etree._Element) -> bool:
    return any(_name(element) == "lastRenderedPageBreak" for element in tr.iter())


def _tidy(text: str, *, single_line: bool) -> str:
    if single_line:
        return " ".join(text.split())
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)

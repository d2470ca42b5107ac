"""HTML via BeautifulSoup + lxml: visible text as markdown-ish blocks, split at CSS page breaks."""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bs4 import BeautifulSoup, Tag, XMLParsedAsHTMLWarning
from bs4.dammit import EncodingDetector
from bs4.element import CData, NavigableString

from documents.parsing.base import (
    FormatDeclaration,
    Markup,
    ParsedDocument,
    ParsedPage,
    Probe,
    check_page_count,
    corrupt,
    decode_text,
)

if TYPE_CHECKING:
    from pathlib import Path

    from bs4.element import PageElement

logger = logging.getLogger(__name__)

# ix:header holds the hidden XBRL facts of SEC inline-XBRL filings.
_DROP = [
    "head", "script", "style", "noscript", "template", "svg", "iframe", "object", "canvas",
    "select", "ix:header",
]  # fmt: skip
_LANDMARKS = ["nav", "header", "footer", "aside"]
_BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header",
    "hgroup", "hr", "html", "legend", "main", "menu", "nav", "ol", "p", "section", "summary",
    "table", "tbody", "td", "tfoot", "th", "thead", "ul",
}  # fmt: skip
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_HIDDEN = re.compile(r"display\s*:\s*none", re.IGNORECASE)
# SEC filings and other print-ready HTML mark their page ends with CSS page breaks.
_BREAK = re.compile(
    r"(?:page-)?break-(before|after)\s*:\s*(?:always|page|left|right|recto|verso)", re.IGNORECASE
)
_SPACE = re.compile(r"\s+")


def _sniff(probe: Probe) -> bool:
    start = probe.head.lstrip()[:100].lower()
    return start.startswith((b"<!doctype html", b"<html"))


DECLARATION = FormatDeclaration(
    name="HTML",
    extensions=(".html", ".htm", ".xhtml"),
    mime_types=("text/html", "application/xhtml+xml"),
    container="text",
    sniff=_sniff,
)


class HtmlParser:
    name = "html"
    markup: Markup = "markdown"
    declaration = DECLARATION

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument:
        soup = parse_html(path.read_bytes())
        pages = html_pages(soup)
        check_page_count(len(pages), max_pages=max_pages)
        return ParsedDocument(
            pages=[ParsedPage(number=n, text=text) for n, text in enumerate(pages, start=1)],
            parser=self.name,
            markup=self.markup,
        )


def parse_html(data: bytes) -> BeautifulSoup:
    """The encoding comes from the BOM or the declared charset; failing those, from the bytes."""
    _, bom = EncodingDetector.strip_byte_order_mark(data)
    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    markup = data if bom or declared else decode_text(data)
    try:
        with warnings.catch_warnings():
            # XHTML (EPUB chapters, filings with an XML prolog) is read as HTML on purpose:
            # real files are rarely well-formed XML.
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            return BeautifulSoup(markup, "lxml")
    except Exception as error:  # lxml gives up on some binary garbage
        raise corrupt(f"the HTML could not be parsed ({type(error).__name__})") from error


def html_pages(soup: BeautifulSoup) -> list[str]:
    """The visible text of a page as blocks; a new page starts at each CSS page break."""
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        if not tag.decomposed:
            tag.decompose()
    root: Tag = soup
    mains = soup.find_all("main")
    if len(mains) == 1:
        root = mains[0]  # the page's own content; skip links, menus and footers around it
    if soup.find(["main", "article"]) is not None:
        for tag in root.find_all(_LANDMARKS):
            if not tag.decomposed and (
                tag.name == "nav" or tag.find_parent(["main", "article"]) is None
            ):
                tag.decompose()
    writer = _Writer()
    writer.walk(root)
    writer.flush()
    return ["\n\n".join(text for _, text in page) for page in writer.pages if page]


def _is_hidden(tag: Tag) -> bool:
    return tag.has_attr("hidden") or bool(_HIDDEN.search(str(tag.get("style") or "")))


def _inline(element: Tag) -> str:
    return _SPACE.sub(" ", element.get_text(" ")).strip()


def _breaks(element: Tag) -> tuple[bool, bool]:
    found = {match.lower() for match in _BREAK.findall(str(element.get("style") or ""))}
    return "before" in found, "after" in found


@dataclass
class _Writer:
    pages: list[list[tuple[str, str]]] = field(default_factory=lambda: [[]])
    buffer: list[str] = field(default_factory=list)
    prefix: str = ""
    depth: int = 0

    def walk(self, root: Tag) -> None:
        # An explicit stack: real-world HTML can nest deeper than Python's recursion limit.
        stack: list[tuple[PageElement, bool]] = [(root, False)]
        while stack:
            node, closing = stack.pop()
            if isinstance(node, NavigableString):
                if type(node) in (NavigableString, CData):  # not comments, doctypes, ruby notes
                    self.buffer.append(_SPACE.sub(" ", str(node)))
                continue
            if not isinstance(node, Tag):
                continue
            before, after = _breaks(node)
            if closing:
                self.close(node, after=after)
                continue
            if before:
                self.page_break()
            if self.unit(node):
                if after:
                    self.page_break()
                continue
            if node.name == "li":
                self.flush()
                self.prefix = "  " * min(self.depth, 8) + "- "
                self.depth += 1
            elif node.name in _BLOCKS:
                self.flush()
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))

    def unit(self, node: Tag) -> bool:
        """Elements written as one block without walking inside: headings, rows, <pre>, <br>."""
        name = node.name
        if name == "br":
            self.buffer.append("\n")
        elif name in _HEADINGS:
            if text := _inline(node):
                self.add("text", "#" * _HEADINGS[name] + " " + text)
        elif name == "tr":
            cells = [_inline(cell) for cell in node.find_all(["td", "th"], recursive=False)]
            if any(cells):
                self.add("row", " | ".join(cell for cell in cells if cell))
        elif name == "pre":
            if text := node.get_text().strip("\n"):
                self.add("text", text)
        else:
            return False
        return True

    def close(self, node: Tag, *, after: bool) -> None:
        if node.name == "li":
            self.flush()
            self.prefix = ""
            self.depth -= 1
        elif node.name in _BLOCKS:
            self.flush()
        if after:
            self.page_break()

    def add(self, kind: str, text: str) -> None:
        self.flush()
        page = self.pages[-1]
        if page and kind in ("row", "item") and page[-1][0] == kind:
            page[-1] = (kind, f"{page[-1][1]}\n{text}")  # keep a table or a list together
        else:
            page.append((kind, text))

    def flush(self) -> None:
        if not self.buffer:
            return
        lines = (_SPACE.sub(" ", line).strip() for line in "".join(self.buffer).split("\n"))
        text = "\n".join(line for line in lines if line)
        self.buffer = []
        if text:
            prefix, self.prefix = self.prefix, ""
            self.add("item" if prefix else "text", prefix + text)

    def page_break(self) -> None:
        self.flush()
        if self.pages[-1]:
            self.pages.append([])

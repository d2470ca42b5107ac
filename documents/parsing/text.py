"""Plain text and Markdown: decoded whatever their encoding, paged at form feeds or by size."""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING

from documents.parsing.base import (
    FormatDeclaration,
    Markup,
    ParsedDocument,
    ParsedPage,
    check_page_count,
    read_text,
)

if TYPE_CHECKING:
    from pathlib import Path

# Long texts are cut into pages so citations can say where a passage is ("Lines 120-184").
SPLIT_ABOVE_CHARS = 6000
PAGE_CHARS = 4000
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


TEXT = FormatDeclaration(
    name="plain text",
    extensions=(".txt", ".text", ".log"),
    mime_types=("text/plain",),
    container="text",
    catch_all=True,
)
MARKDOWN = FormatDeclaration(
    name="Markdown",
    extensions=(".md", ".markdown"),
    mime_types=("text/markdown",),
    container="text",
)


class TextParser:
    name = "text"
    markup: Markup = "text"
    declaration = TEXT

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument:
        text = _normalise_newlines(read_text(path))
        if "\f" in text:
            pages = _form_feed_pages(text)
        elif len(text) > SPLIT_ABOVE_CHARS:
            pages = [
                ParsedPage(number=n, text=body, label=label)
                for n, (label, body) in enumerate(_split_by_lines(text), start=1)
            ]
        else:
            pages = [ParsedPage(number=1, text=text)]
        check_page_count(len(pages), max_pages=max_pages)
        return ParsedDocument(pages=pages, parser=self.name, markup=self.markup)


class MarkdownParser:
    name = "markdown"
    markup: Markup = "markdown"
    declaration = MARKDOWN

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument:
        text = _HTML_COMMENT.sub("", _normalise_newlines(read_text(path)))
        pages = _form_feed_pages(text)
        check_page_count(len(pages), max_pages=max_pages)
        return ParsedDocument(pages=pages, parser=self.name, markup=self.markup)


def _form_feed_pages(text: str) -> list[ParsedPage]:
    """A form feed is the page break of printed text (man pages, old reports)."""
    pieces = enumerate(text.split("\f"), start=1)
    return [ParsedPage(number=n, text=piece) for n, piece in pieces if piece.strip()]


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _split_by_lines(text: str) -> list[tuple[str, str]]:
    """About PAGE_CHARS per page, cut at blank lines if possible, labelled with line numbers."""
    units = _units(text.split("\n"))
    pages: list[tuple[str, str]] = []
    current: list[tuple[int, int, str]] = []
    size = 0
    for unit in units:
        if current and size + len(unit[2]) > PAGE_CHARS:
            pages.append(_page(current))
            current, size = [], 0
        current.append(unit)
        size += len(unit[2]) + 1
    if current:
        pages.append(_page(current))
    return pages


def _units(lines: list[str]) -> list[tuple[int, int, str]]:
    """(first line, last line, text) of each paragraph; long paragraphs and lines cut smaller."""
    paragraphs: list[tuple[int, int, str]] = []
    start = 0
    for index, line in enumerate([*lines, ""]):
        if not line.strip():
            if index > start:
                paragraphs.append((start + 1, index, "\n".join(lines[start:index])))
            start = index + 1
    units: list[tuple[int, int, str]] = []
    for first, last, body in paragraphs:
        if len(body) <= PAGE_CHARS:
            units.append((first, last, body))
            continue
        for number, line in enumerate(body.split("\n"), start=first):
            units.extend((number, number, piece) for piece in _cut_line(line))
    return units


def _cut_line(line: str) -> list[str]:
    pieces = []
    while len(line) > PAGE_CHARS:
        cut = line.rfind(" ", PAGE_CHARS // 2, PAGE_CHARS)
        cut = cut if cut > 0 else PAGE_CHARS
        pieces.append(line[:cut])
        line = line[cut:].lstrip()
    return [*pieces, line]


def _page(units: list[tuple[int, int, str]]) -> tuple[str, str]:
    first, last = units[0][0], units[-1][1]
    label = f"Lines {first}\N{EN DASH}{last}" if first != last else f"Line {first}"
    parts = [units[0][2]]
    for (_, previous_last, _), (next_first, _, body) in itertools.pairwise(units):
        parts.append("\n" if next_first <= previous_last + 1 else "\n\n")
        parts.append(body)
    return label, "".join(parts)

"""Token-aware splitting of a document's pages into passages. Pure functions, no database.

Consecutive short pages are packed together (a chunk then spans a page range); a page longer
than the budget is split on its own by `semantic-text-splitter`, which cuts at the highest
semantic level that fits (headings and sections for markdown, then paragraphs, sentences,
words). Every chunk is measured with the embedding model's own tokenizer and re-cut if needed,
so none is silently truncated by the model's window.

Each chunk also carries its `context`: where it sits in the document (the Markdown or reST
heading path, a spreadsheet's sheet), which is embedded and indexed with the chunk's text while
citations quote the text alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from semantic_text_splitter import MarkdownSplitter, TextSplitter

from documents.sections import (
    PATH_SEPARATOR,
    Heading,
    clip,
    heading_paths,
    markdown_headings,
    markdown_tables,
    opening_title,
    plain_headings,
    repeated_lines,
    rst_blocks,
    rst_headings,
    same_words,
)

if TYPE_CHECKING:
    from tokenizers import Tokenizer

PAGE_SEPARATOR = "\n\n"
# Pieces cut by characters aim a little under the token budget so few need a second cut.
_CHARACTER_BUDGET_MARGIN = 0.9
# What may precede a section's heading in the same chunk, as a share of the token budget.
_SHORT_LEAD = 0.25


@dataclass(frozen=True)
class PageText:
    number: int
    text: str
    char_start: int  # offset of the page in the document text
    label: str = ""  # the parser's name for the page: "Sheet: Revenue", "Slide 3", ...


@dataclass(frozen=True)
class TextChunk:
    text: str
    page_start: int
    page_end: int
    char_start: int  # document-text coordinates, end exclusive
    char_end: int
    token_count: int
    context: str = ""  # heading path ("Guide > Install"), embedded and indexed, never quoted


def layout_pages(texts: Sequence[str]) -> list[PageText]:
    """Place page texts in document coordinates: pages joined with PAGE_SEPARATOR."""
    pages: list[PageText] = []
    offset = 0
    for number, text in enumerate(texts, start=1):
        pages.append(PageText(number=number, text=text, char_start=offset))
        offset += len(text) + len(PAGE_SEPARATOR)
    return pages


@dataclass(frozen=True)
class _Unit:
    """What chunks are packed from: a whole page, or (reST) one block of a page."""

    page: PageText
    start: int  # document coordinates, end exclusive
    end: int
    heading: bool = False  # opens a section: a chunk prefers to start here

    @property
    def text(self) -> str:
        offset = self.page.char_start
        return self.page.text[self.start - offset : self.end - offset]


def chunk_pages(
    pages: Sequence[PageText],
    *,
    tokenizer: Tokenizer,
    max_tokens: int,
    overlap_tokens: int,
    markdown: bool = False,
    rst: bool = False,
    plain: bool = False,
    title: str = "",
) -> list[TextChunk]:
    """The chunks of a document's pages. `title` (the document's name as people say it) leads
    every chunk's context; reST is packed from whole blocks and sections (see `_units`);
    `plain` text (PDF, OCR, .txt) takes the headings a reader would see (`plain_headings`)."""
    if max_tokens < 16:
        raise ValueError("max_tokens must be at least 16")
    if not 0 <= overlap_tokens < max_tokens // 2:
        raise ValueError("overlap_tokens must be between 0 and half of max_tokens")
    pages = [page for page in pages if page.text.strip()]
    if not pages:
        return []
    splitter_class = MarkdownSplitter if markdown else TextSplitter
    headings = _headings(pages, markdown=markdown, rst=rst, plain=plain)
    units = _units(pages, rst=rst, plain=plain, headings=headings)
    unit_tokens = _count_tokens(tokenizer, [unit.text for unit in units])
    # What the rest of a section costs, from each heading: a section that fits whole in what is
    # left of the budget joins the chunk; one that does not starts a new chunk.
    section_tokens = list(unit_tokens)
    for i in range(len(units) - 2, -1, -1):
        if not units[i + 1].heading:
            section_tokens[i] += section_tokens[i + 1]

    chunks: list[TextChunk] = []
    group: list[_Unit] = []
    group_tokens = 0

    def flush() -> None:
        nonlocal group, group_tokens
        if group:
            start, end = group[0].start, group[-1].end
            text = _document_slice(pages, start, end)
            chunks.append(
                TextChunk(
                    text=text,
                    page_start=group[0].page.number,
                    page_end=group[-1].page.number,
                    char_start=start,
                    char_end=end,
                    token_count=group_tokens,
                )
            )
        group, group_tokens = [], 0

    for i, (unit, tokens) in enumerate(zip(units, unit_tokens, strict=True)):
        if tokens > max_tokens:
            flush()
            # Splitting by characters is about a thousand times faster than measuring every
            # candidate in tokens; the unit's own characters-per-token ratio sets the budget,
            # and the few pieces that still come out too long are split again by tokens.
            text = unit.text
            ratio = len(text) / tokens
            by_characters = splitter_class(
                capacity=max(16, int(max_tokens * ratio * _CHARACTER_BUDGET_MARGIN)),
                overlap=int(overlap_tokens * ratio),
                trim=True,
            )
            for offset, piece in by_characters.chunk_indices(text):
                start = unit.start + offset
                chunks.append(
                    TextChunk(
                        text=piece,
                        page_start=unit.page.number,
                        page_end=unit.page.number,
                        char_start=start,
                        char_end=start + len(piece),
                        token_count=0,  # counted below, in one batch
                    )
                )
            continue
        # The separator costs no tokens with WordPiece/BPE tokenizers that drop whitespace.
        # A section starts a chunk unless what precedes it is short (a title and a line of
        # introduction) and the whole section fits after it: a chunk then holds one section
        # and its context names the right one.
        if group and (
            group_tokens + tokens > max_tokens
            or (
                unit.heading
                and (
                    group_tokens + section_tokens[i] > max_tokens
                    or group_tokens >= max_tokens * _SHORT_LEAD
                )
            )
        ):
            flush()
        group.append(unit)
        group_tokens += tokens
    flush()

    uncounted = [i for i, chunk in enumerate(chunks) if chunk.token_count == 0]
    counts = _count_tokens(tokenizer, [chunks[i].text for i in uncounted])
    by_tokens = None
    result: list[TextChunk] = []
    measured = dict(zip(uncounted, counts, strict=True))
    for i, chunk in enumerate(chunks):
        count = measured.get(i, chunk.token_count)
        if count <= max_tokens:
            result.append(replace(chunk, token_count=count))
            continue
        if by_tokens is None:
            by_tokens = splitter_class.from_huggingface_tokenizer(
                tokenizer, capacity=max_tokens, overlap=overlap_tokens, trim=True
            )
        pieces = by_tokens.chunk_indices(chunk.text)
        piece_counts = _count_tokens(tokenizer, [piece for _, piece in pieces])
        for (offset, piece), piece_count in zip(pieces, piece_counts, strict=True):
            start = chunk.char_start + offset
            result.append(
                replace(chunk, text=piece, char_start=start, char_end=start + len(piece),
                        token_count=piece_count)
            )  # fmt: skip
    return with_context(
        result,
        pages=pages,
        headings=headings,
        markdown=markdown,
        markup_headings=markdown or rst,
        title=title,
    )


def _headings(
    pages: Sequence[PageText], *, markdown: bool, rst: bool, plain: bool
) -> list[Heading]:
    if markdown or rst:
        find = markdown_headings if markdown else rst_headings
        return [h for page in pages for h in find(page.text, base=page.char_start)]
    if plain:
        repeated = repeated_lines([page.text for page in pages])
        found = [
            h
            for page in pages
            for h in plain_headings(page.text, base=page.char_start, repeated=repeated)
        ]
        title = opening_title(pages[0].text, base=pages[0].char_start)
        if title and not (found and found[0].offset == title.offset):
            found.insert(0, title)
        return found
    return []


def _units(
    pages: Sequence[PageText], *, rst: bool, plain: bool, headings: Sequence[Heading]
) -> list[_Unit]:
    """Whole pages (Markdown: its splitter cuts at headings itself), except reST, cut into its
    blocks, so that a literal block stays with the paragraph that introduces it and a
    definition with its term, and plain text, cut at its headings; a heading then starts a
    chunk where it can (semantic-text-splitter cuts plain text at any blank line)."""
    if rst:
        titles = {h.offset for h in headings}
        units: list[_Unit] = []
        for page in pages:
            for start, end in rst_blocks(page.text):
                first = page.char_start + start
                # A title block begins at its title, or at the overline one line above it.
                second_line = page.text.find("\n", start) + 1 or end
                opens = any(first <= t <= page.char_start + second_line for t in titles)
                units.append(_Unit(page, first, page.char_start + end, heading=opens))
        return units
    if plain and headings:
        units = []
        for page in pages:
            page_end = page.char_start + len(page.text)
            cuts = [h.offset for h in headings if page.char_start < h.offset < page_end]
            bounds = [page.char_start, *cuts, page_end]
            for start, end in itertools.pairwise(bounds):
                piece = page.text[start - page.char_start : end - page.char_start]
                if piece.strip():
                    units.append(
                        _Unit(page, start, start + len(piece.rstrip()), heading=start in cuts)
                    )
        return units
    return [_Unit(page, page.char_start, page.char_start + len(page.text)) for page in pages]


def _document_slice(pages: Sequence[PageText], start: int, end: int) -> str:
    """The document text between two offsets: pages are joined by PAGE_SEPARATOR."""
    parts: list[str] = []
    for page in pages:
        page_end = page.char_start + len(page.text)
        if page_end <= start or page.char_start >= end:
            continue
        if parts:
            parts.append(PAGE_SEPARATOR)
        parts.append(
            page.text[max(start, page.char_start) - page.char_start : end - page.char_start]
        )
    return "".join(parts)


def with_context(
    chunks: Sequence[TextChunk],
    *,
    pages: Sequence[PageText],
    headings: Sequence[Heading],
    markdown: bool,
    markup_headings: bool = False,
    title: str = "",
) -> list[TextChunk]:
    """The chunks with where each starts: the document's title, a sheet's name and the heading
    path in effect there, and, for a chunk that starts among a Markdown table's rows, the
    table's header row (its columns' names) on a line of its own."""
    paths = heading_paths(headings, [chunk.char_start for chunk in chunks])
    tables = (
        [t for page in pages for t in markdown_tables(page.text, base=page.char_start)]
        if markdown
        else []
    )
    # Slide and line-range labels only say where a page is; a sheet's name says what it holds.
    sheets = {page.number: page.label for page in pages if page.label.startswith("Sheet: ")}
    # Markup that opens with a heading has named itself: the file's name adds nothing then.
    if markup_headings and headings and not pages[0].text[: headings[0].offset].strip():
        title = ""
    result = []
    for chunk, path in zip(chunks, paths, strict=True):
        sheet = sheets.get(chunk.page_start, "").removeprefix("Sheet: ")
        first = path.split(PATH_SEPARATOR, 1)[0] if path else sheet
        # A title that only repeats the document's first heading ("install.md" / "Install").
        named = title if title and not same_words(title, first) else ""
        place = clip(PATH_SEPARATOR.join(part for part in (named, sheet, path) if part))
        header = next((t.header for t in tables if t.start <= chunk.char_start < t.end), "")
        context = "\n".join(part for part in (place, header) if part)
        result.append(replace(chunk, context=context))
    return result


def _count_tokens(tokenizer: Tokenizer, texts: list[str]) -> list[int]:
    if not texts:
        return []
    return [
        len(encoding.ids) for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)
    ]

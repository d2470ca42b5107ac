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

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from semantic_text_splitter import MarkdownSplitter, TextSplitter

from documents.sections import PATH_SEPARATOR, clip, heading_paths, markdown_headings, rst_headings

if TYPE_CHECKING:
    from tokenizers import Tokenizer

PAGE_SEPARATOR = "\n\n"
# Pieces cut by characters aim a little under the token budget so few need a second cut.
_CHARACTER_BUDGET_MARGIN = 0.9


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


def chunk_pages(
    pages: Sequence[PageText],
    *,
    tokenizer: Tokenizer,
    max_tokens: int,
    overlap_tokens: int,
    markdown: bool = False,
    rst: bool = False,
) -> list[TextChunk]:
    if max_tokens < 16:
        raise ValueError("max_tokens must be at least 16")
    if not 0 <= overlap_tokens < max_tokens // 2:
        raise ValueError("overlap_tokens must be between 0 and half of max_tokens")
    pages = [page for page in pages if page.text.strip()]
    if not pages:
        return []
    splitter_class = MarkdownSplitter if markdown else TextSplitter
    page_tokens = _count_tokens(tokenizer, [page.text for page in pages])

    chunks: list[TextChunk] = []
    group: list[PageText] = []
    group_tokens = 0

    def flush() -> None:
        nonlocal group, group_tokens
        if group:
            text = PAGE_SEPARATOR.join(page.text for page in group)
            chunks.append(
                TextChunk(
                    text=text,
                    page_start=group[0].number,
                    page_end=group[-1].number,
                    char_start=group[0].char_start,
                    char_end=group[-1].char_start + len(group[-1].text),
                    token_count=group_tokens,
                )
            )
        group, group_tokens = [], 0

    for page, tokens in zip(pages, page_tokens, strict=True):
        if tokens > max_tokens:
            flush()
            # Splitting by characters is about a thousand times faster than measuring every
            # candidate in tokens; the page's own characters-per-token ratio sets the budget,
            # and the few pieces that still come out too long are split again by tokens.
            ratio = len(page.text) / tokens
            by_characters = splitter_class(
                capacity=max(16, int(max_tokens * ratio * _CHARACTER_BUDGET_MARGIN)),
                overlap=int(overlap_tokens * ratio),
                trim=True,
            )
            for offset, piece in by_characters.chunk_indices(page.text):
                start = page.char_start + offset
                chunks.append(
                    TextChunk(
                        text=piece,
                        page_start=page.number,
                        page_end=page.number,
                        char_start=start,
                        char_end=start + len(piece),
                        token_count=0,  # counted below, in one batch
                    )
                )
            continue
        # The separator costs no tokens with WordPiece/BPE tokenizers that drop whitespace.
        if group and group_tokens + tokens > max_tokens:
            flush()
        group.append(page)
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
    return with_context(result, pages=pages, markdown=markdown, rst=rst)


def with_context(
    chunks: Sequence[TextChunk], *, pages: Sequence[PageText], markdown: bool, rst: bool
) -> list[TextChunk]:
    """The chunks with the heading path in effect where each starts (and a sheet's name)."""
    find = markdown_headings if markdown else rst_headings if rst else None
    headings = [h for page in pages for h in find(page.text, base=page.char_start)] if find else []
    paths = heading_paths(headings, [chunk.char_start for chunk in chunks])
    # Slide and line-range labels only say where a page is; a sheet's name says what it holds.
    sheets = {page.number: page.label for page in pages if page.label.startswith("Sheet: ")}
    result = []
    for chunk, path in zip(chunks, paths, strict=True):
        parts = [sheets.get(chunk.page_start, "").removeprefix("Sheet: "), path]
        context = clip(PATH_SEPARATOR.join(part for part in parts if part))
        result.append(replace(chunk, context=context))
    return result


def _count_tokens(tokenizer: Tokenizer, texts: list[str]) -> list[int]:
    if not texts:
        return []
    return [
        len(encoding.ids) for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)
    ]

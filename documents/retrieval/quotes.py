"""The sentences of retrieved passages that answer a query, located on their pages: what an
extractive answer quotes and cites.

A chunk may begin or end inside a sentence (chunks are cut by tokens), so quotes are taken from
the page text around the chunk and always hold whole sentences; a table row or a list item is
one unit; a row is scored with its table's header, which names what its cells mean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from documents.backends.base import SearchHit
from documents.backends.embeddings import embed_query, get_embedder
from documents.models import Corpus, Page
from documents.passages import fold

# Sentences scoring this much (cosine) below the best are left out.
_SCORE_MARGIN = 0.15
# A sentence ends at . ! ? before a capital or digit, and at line breaks, except a break
# between two lower-case words (or after a comma): PDFs break lines inside sentences, while
# spreadsheet rows, list items and headings each have a line of their own.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])\s+(?=[\"“(\[]?[A-Z0-9])|\n\s*\n\s*|(?<![a-z,])\n\s*|\n(?![ \t]*[a-z])\s*"
)
# How far around a chunk to look for the rest of a sentence it cuts, and the longest quote.
_REACH = 400
_MAX_QUOTE = 600
# Table-of-contents lines: "Introduction ........ 3"
_DOT_LEADER = re.compile(r"(?:\.\s?){4,}|…{2,}|(?:_\s?){4,}")
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{2,}")


@dataclass(frozen=True)
class Quote:
    hit: SearchHit
    text: str
    offset: int  # where `text` starts relative to hit.text (negative: before the chunk)
    page: int | None  # the page the quote starts on
    char_start: int | None  # document coordinates, for highlighting
    char_end: int | None
    score: float = 0.0


@dataclass(frozen=True)
class _Candidate:
    rank: int
    hit: SearchHit
    text: str
    offset: int
    scored_as: str  # what is embedded: the text, or a table row with its header


def best_quotes(
    corpus: Corpus,
    question: str,
    hits: Sequence[SearchHit],
    limit: int = 3,
    context: str | None = None,
    exclude: Iterable[str] = (),
) -> list[Quote]:
    """The sentences of `hits` closest to the question (cosine, the corpus's embedding
    model), best first: whole sentences, no two alike, at most two per passage, none far below
    the best, none of the texts in `exclude` (what the previous answer already quoted)."""
    excluded = {fold(text) for text in exclude if fold(text)}
    windows = _windows(hits)
    candidates: list[_Candidate] = []
    seen: set[str] = set()
    for rank, hit in enumerate(hits):
        for candidate in _candidates(rank, hit, windows.get(id(hit))):
            key = fold(candidate.text)
            if key and key not in seen and not any(key in old for old in excluded):
                seen.add(key)
                candidates.append(candidate)
    if not candidates:
        # Nothing reads as a sentence (a list of figures, a heading): quote the passages.
        return [
            _quote(_Candidate(rank, hit, hit.text.strip()[:_MAX_QUOTE], 0, ""), 0.0)
            for rank, hit in enumerate(hits[:limit])
            if hit.text.strip()
        ]
    embedder = get_embedder(corpus.embedding_model)
    vectors = embedder.embed([c.scored_as for c in candidates]).vectors
    scores = vectors @ embed_query(corpus.embedding_model, question)
    if context and context != question:
        # A follow-up is judged mostly by its own words, partly by what it continues.
        scores = 0.6 * scores + 0.4 * (vectors @ embed_query(corpus.embedding_model, context))
    # A small prior for the fused search rank keeps the best passage in the answer.
    scores = scores - 0.02 * np.array([c.rank for c in candidates])
    chosen: list[int] = []
    per_hit: dict[int, int] = {}
    floor = float(scores.max()) - _SCORE_MARGIN
    for index in np.argsort(-scores):
        rank = candidates[index].rank
        if scores[index] < floor or len(chosen) == limit:
            break
        if per_hit.get(rank, 0) < 2:
            chosen.append(int(index))
            per_hit[rank] = per_hit.get(rank, 0) + 1
    return [_quote(candidates[i], float(scores[i])) for i in chosen]


def _candidates(rank: int, hit: SearchHit, window: tuple[str, int] | None) -> list[_Candidate]:
    """The hit's sentences, rows and items, whole, with offsets relative to hit.text."""
    if window is None:
        text, base = hit.text, 0
    else:
        text, base = window
    chunk_start = 0 if window is None else (hit.char_start or 0) - base
    chunk_end = chunk_start + len(hit.text)
    pieces = split_sentences(text)
    header = ""
    found: list[_Candidate] = []
    for index, (sentence, offset) in enumerate(pieces):
        row = _is_table_row(sentence)
        if not row:
            header = ""
        elif _TABLE_SEPARATOR.match(sentence):
            continue
        elif _starts_table(pieces, index):
            header = sentence  # names the columns of the rows below; no answer itself
            continue
        end = offset + len(sentence)
        if end <= chunk_start or offset >= chunk_end:
            continue  # wholly outside the chunk: context only
        if len(sentence) > _MAX_QUOTE:
            # No sentence end in sight (a wall of text): quote only what the chunk holds.
            offset, end = max(offset, chunk_start), min(end, chunk_end)
            sentence = text[offset:end].strip()
        if _DOT_LEADER.search(sentence) or not _readable(sentence, row=row):
            continue
        scored_as = f"{header} {sentence}" if row and header else sentence
        found.append(_Candidate(rank, hit, sentence, offset - chunk_start, scored_as))
    return found


def _starts_table(pieces: list[tuple[str, int]], index: int) -> bool:
    """A header row: followed by a Markdown separator row, or the first row of a table that
    starts after ordinary text (not at the window's edge, which may be mid-table)."""
    following = pieces[index + 1][0] if index + 1 < len(pieces) else ""
    if _TABLE_SEPARATOR.match(following):
        return True
    return index > 0 and not _is_table_row(pieces[index - 1][0])


def _is_table_row(text: str) -> bool:
    return text.startswith("|") or text.count(" | ") >= 2


def _readable(text: str, *, row: bool) -> bool:
    words = text.split()
    letters = sum(char.isalpha() for char in text)
    if row:
        return len(words) >= 2 and letters >= 3
    return len(words) >= 4 and letters >= len(text) * 0.4


def _windows(hits: Sequence[SearchHit]) -> dict[int, tuple[str, int]]:
    """For each hit with document coordinates: the document text around it, and where that
    text starts, read from the pages it touches (one query for all hits)."""
    wanted = [hit for hit in hits if hit.char_start is not None and hit.page_start is not None]
    if not wanted:
        return {}
    pages: dict[int, list[Page]] = {}
    rows = Page.objects.filter(document_id__in={hit.document_id for hit in wanted}).only(
        "document_id", "number", "text", "char_start"
    )
    by_document: dict[int, set[int]] = {}
    for hit in wanted:
        numbers = by_document.setdefault(hit.document_id, set())
        numbers.update(range((hit.page_start or 1) - 1, (hit.page_end or hit.page_start or 1) + 2))
    for page in rows.order_by("document_id", "number"):
        if page.number in by_document.get(page.document_id, ()):
            pages.setdefault(page.document_id, []).append(page)
    windows: dict[int, tuple[str, int]] = {}
    for hit in wanted:
        assert hit.char_start is not None
        start, end = hit.char_start - _REACH, (hit.char_end or hit.char_start) + _REACH
        parts: list[str] = []
        base: int | None = None
        for page in pages.get(hit.document_id, []):
            if page.char_end <= start or page.char_start >= end:
                continue
            if base is None:
                base = max(page.char_start, start)
            elif parts:
                gap = page.char_start - (base + sum(map(len, parts)))
                parts.append("\n" * max(gap, 0))
            parts.append(page.text[max(0, start - page.char_start) : max(0, end - page.char_start)])
        text = "".join(parts)
        if base is None or hit.text.strip() not in text:
            continue  # the page map does not match the chunk (e.g. adopted remotely)
        windows[id(hit)] = (text, base)
    return windows


def _quote(candidate: _Candidate, score: float) -> Quote:
    hit, text, offset = candidate.hit, candidate.text, candidate.offset
    if hit.char_start is None:
        return Quote(hit, text, offset, hit.page_start, None, None, score)
    char_start = hit.char_start + offset
    page = hit.page_start
    if hit.page_start != hit.page_end or offset < 0:
        page = (
            Page.objects.number_at(document_id=hit.document_id, offset=char_start) or hit.page_start
        )
    return Quote(hit, text, offset, page, char_start, char_start + len(text), score)


def split_sentences(text: str) -> list[tuple[str, int]]:
    """(sentence, offset in text) pairs."""
    pieces: list[tuple[str, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        _append_piece(pieces, text, start, match.start())
        start = match.end()
    _append_piece(pieces, text, start, len(text))
    return pieces


def _append_piece(pieces: list[tuple[str, int]], text: str, start: int, end: int) -> None:
    raw = text[start:end]
    stripped = raw.strip().lstrip("-*•# ").strip()
    if stripped:
        pieces.append((stripped, start + raw.find(stripped)))

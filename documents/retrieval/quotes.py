"""The sentences of retrieved passages that answer a query, located on their pages: what an
extractive answer quotes and cites."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from documents.backends.base import SearchHit
from documents.backends.embeddings import get_embedder
from documents.models import Corpus, Page

# Sentences scoring this much (cosine) below the best are left out.
_SCORE_MARGIN = 0.15
# A sentence ends at . ! ? before a capital or digit, and at line breaks, except a break
# between two lower-case words (or after a comma): PDFs break lines inside sentences, while
# spreadsheet rows, list items and headings each have a line of their own.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])\s+(?=[\"“(\[]?[A-Z0-9])|\n\s*\n\s*|(?<![a-z,])\n\s*|\n(?![ \t]*[a-z])\s*"
)


@dataclass(frozen=True)
class Quote:
    hit: SearchHit
    text: str
    offset: int  # where `text` starts in hit.text
    page: int | None  # the page the quote starts on
    char_start: int | None  # document coordinates, for highlighting
    char_end: int | None


def best_quotes(
    corpus: Corpus,
    question: str,
    hits: Sequence[SearchHit],
    limit: int = 3,
    context: str | None = None,
) -> list[Quote]:
    """The sentences of `hits` closest to the question (cosine, the corpus's embedding
    model), best first, at most two per passage, none far below the best."""
    candidates: list[tuple[int, SearchHit, str, int]] = []
    for rank, hit in enumerate(hits):
        for sentence, offset in split_sentences(hit.text):
            if len(sentence.split()) >= 4:
                candidates.append((rank, hit, sentence, offset))
    if not candidates:
        return [_quote(hit, hit.text.strip(), 0) for hit in hits[:limit]]
    embedder = get_embedder(corpus.embedding_model)
    vectors = embedder.embed([c[2] for c in candidates]).vectors
    scores = vectors @ embedder.embed_query(question)
    if context and context != question:
        # A follow-up is judged mostly by its own words, partly by what it continues.
        scores = 0.6 * scores + 0.4 * (vectors @ embedder.embed_query(context))
    # A small prior for the fused search rank keeps the best passage in the answer.
    scores = scores - 0.02 * np.array([c[0] for c in candidates])
    chosen: list[int] = []
    per_hit: dict[int, int] = {}
    floor = float(scores.max()) - _SCORE_MARGIN
    for index in np.argsort(-scores):
        rank = candidates[index][0]
        if scores[index] < floor or len(chosen) == limit:
            break
        if per_hit.get(rank, 0) < 2:
            chosen.append(int(index))
            per_hit[rank] = per_hit.get(rank, 0) + 1
    return [_quote(candidates[i][1], candidates[i][2], candidates[i][3]) for i in chosen]


def _quote(hit: SearchHit, text: str, offset: int) -> Quote:
    if hit.char_start is None:
        return Quote(hit, text, offset, hit.page_start, hit.char_start, hit.char_end)
    char_start = hit.char_start + offset
    page = hit.page_start
    if hit.page_start != hit.page_end:
        page = (
            Page.objects.number_at(document_id=hit.document_id, offset=char_start) or hit.page_start
        )
    return Quote(hit, text, offset, page, char_start, char_start + len(text))


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

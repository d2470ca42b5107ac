"""Retrieval stages that ship with Docent: reranking and neighbouring-chunk expansion.

Both are listed in settings.RETRIEVAL_STAGES (see pipeline.py); put RerankStage before
NeighbourExpansionStage, so that the reranker judges chunks as they were indexed and only the
passages that make the answer are expanded.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from django.db.models import Q

from documents.backends.base import IndexingError, SearchHit
from documents.models import Chunk, Page
from documents.retrieval.pipeline import Retrieval
from documents.retrieval.rerankers import get_reranker

logger = logging.getLogger(__name__)


class RerankStage:
    """Asks search for `candidates` passages, has the reranker `reranker` (an alias of
    settings.RERANKERS) score them and keeps them in its order.

    If the reranker fails, the fused order is kept and the failure is logged and written in
    the trace: an answer never fails because a reranker is down. SearchHit.score stays the
    search score; the reranker's scores are in trace["rerank"]["scores"], in the new order.
    """

    key = "rerank"

    def __init__(self, *, reranker: str, candidates: int = 30) -> None:
        self.reranker = reranker
        self._candidates = candidates

    def candidates(self, k: int) -> int:
        return max(k, self._candidates)

    def apply(self, retrieval: Retrieval) -> Retrieval:
        hits = retrieval.hits
        started = time.perf_counter()
        try:
            scores = get_reranker(self.reranker).rerank(
                query=retrieval.query, texts=[hit.text for hit in hits]
            )
            if len(scores) != len(hits):
                raise IndexingError(
                    f"The reranker {self.reranker!r} returned {len(scores)} scores for "
                    f"{len(hits)} passages.",
                    retryable=False,
                )
        except IndexingError as error:
            logger.warning(
                "rerank corpus=%s reranker=%s failed, keeping the search order (retryable=%s): %s",
                retrieval.corpus.pk,
                self.reranker,
                error.retryable,
                error,
            )
            trace: dict[str, Any] = {
                "reranker": self.reranker,
                "error": str(error),
                "order": "search",
            }
            return retrieval.with_hits(hits, trace={**retrieval.trace, "rerank": trace})
        # sorted() is stable: equal scores keep the search order.
        order = sorted(range(len(hits)), key=lambda i: -scores[i])
        trace = {
            "reranker": self.reranker,
            "order": "reranked",
            "scores": [round(scores[i], 6) for i in order],
            "search_ranks": [i + 1 for i in order],
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        return retrieval.with_hits(
            [hits[i] for i in order], trace={**retrieval.trace, "rerank": trace}
        )


# A line that is a list item or a table row (markdown pipes, or the tab-separated cells the
# spreadsheet parser writes): the list or table may go on in the next chunk.
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|[a-z][.)])\s+\S")
_TABLE_ROW = re.compile(r"^\s*\|.*\||\t")
_HEADING = re.compile(r"^\s*#{1,6}\s+\S")
# A passage ending without one of these stops mid-sentence.
_SENTENCE_END = tuple(".!?…:;\"')]}*`\u201d\u2019")


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def _last_line(text: str) -> str:
    return next((line for line in reversed(text.splitlines()) if line.strip()), "")


def _block(line: str) -> str | None:
    if _TABLE_ROW.search(line):
        return "table"
    if _LIST_ITEM.match(line):
        return "list"
    return None


def continues_after(text: str, following: str) -> bool:
    """Does the passage `text` stop mid-way through what `following` carries on?"""
    last = _last_line(text)
    if not last:
        return False
    block = _block(last)
    if block is not None and block == _block(_first_line(following)):
        return True
    if _HEADING.match(last):
        return True
    return not last.rstrip().endswith(_SENTENCE_END)


def continues_before(text: str, preceding: str) -> bool:
    """Does the passage `text` start mid-way through what `preceding` began?"""
    first = _first_line(text).lstrip()
    if not first:
        return False
    block = _block(first)
    if block is not None and block == _block(_last_line(preceding)):
        return True
    return first[0].islower() or first[0] in ",;)]"


class NeighbourExpansionStage:
    """Widens each of the first `k` passages with the chunk after it when it stops mid-list,
    mid-table or mid-sentence, or is shorter than `short_chars`, and with the chunk before it
    when it starts mid-way; never past `max_chars`, and never with a chunk that is a result
    itself or already joined to another. Citation coordinates (characters and pages) span the
    joined text, which is the document's text exactly, so quotes still highlight.

    Needs chunk rows (the pgvector backend); hits without a chunk id are left as they are.
    """

    key = "neighbours"

    def __init__(self, *, short_chars: int = 300, max_chars: int = 3000) -> None:
        self.short_chars = short_chars
        self.max_chars = max_chars

    def candidates(self, k: int) -> int:
        return k

    def apply(self, retrieval: Retrieval) -> Retrieval:
        top = list(retrieval.hits[: retrieval.k])
        ids = [hit.chunk_id for hit in top if hit.chunk_id is not None]
        if not ids:
            return retrieval
        rows = list(Chunk.objects.neighbours(chunk_ids=ids))
        by_id = {row.pk: row for row in rows}
        by_place = {(row.document_id, row.index_version, row.ordinal): row for row in rows}
        taken = {hit.chunk_id for hit in retrieval.hits if hit.chunk_id is not None}
        plans: list[tuple[Chunk | None, Chunk | None]] = []
        for hit in top:
            own = by_id.get(hit.chunk_id) if hit.chunk_id is not None else None
            if own is None:
                plans.append((None, None))
                continue
            before = by_place.get((own.document_id, own.index_version, own.ordinal - 1))
            after = by_place.get((own.document_id, own.index_version, own.ordinal + 1))
            size = len(hit.text)
            if after is not None and (
                after.pk in taken
                or not (size < self.short_chars or continues_after(hit.text, after.text))
                or size + len(after.text) > self.max_chars
            ):
                after = None
            if after is not None:
                taken.add(after.pk)
                size += len(after.text)
            if before is not None and (
                before.pk in taken
                or not continues_before(hit.text, before.text)
                or size + len(before.text) > self.max_chars
            ):
                before = None
            if before is not None:
                taken.add(before.pk)
            plans.append((before, after))
        if not any(before or after for before, after in plans):
            return retrieval.with_hits(
                retrieval.hits, trace={**retrieval.trace, "neighbours": {"expanded": []}}
            )
        gaps = _gap_texts(top, plans)
        expanded: list[SearchHit] = []
        notes: list[dict[str, int | None]] = []
        for hit, (before, after) in zip(top, plans, strict=True):
            if before is None and after is None:
                expanded.append(hit)
                continue
            expanded.append(_joined(hit, before, after, gaps))
            notes.append(
                {
                    "chunk_id": hit.chunk_id,
                    "before": before.pk if before else None,
                    "after": after.pk if after else None,
                }
            )
        trace = {**retrieval.trace, "neighbours": {"expanded": notes}}
        return retrieval.with_hits([*expanded, *retrieval.hits[retrieval.k :]], trace=trace)


def _spans(
    hit: SearchHit, before: Chunk | None, after: Chunk | None
) -> list[tuple[int, int, int, int]]:
    """(start, end, first page, last page) of the gaps between the hit and its neighbours."""
    gaps = []
    first_page, last_page = hit.page_start or 1, hit.page_end or 1
    if before is not None and hit.char_start is not None and before.char_end < hit.char_start:
        gaps.append((before.char_end, hit.char_start, before.page_end, first_page))
    if after is not None and hit.char_end is not None and hit.char_end < after.char_start:
        gaps.append((hit.char_end, after.char_start, last_page, after.page_start))
    return gaps


def _gap_texts(
    top: Sequence[SearchHit], plans: Sequence[tuple[Chunk | None, Chunk | None]]
) -> dict[tuple[int, int, int], str]:
    """The document text between joined chunks, read from the pages: chunking trims the
    whitespace and page separators there, and a quote's offsets must stay exact."""
    wanted = [
        (hit.document_id, *span)
        for hit, (before, after) in zip(top, plans, strict=True)
        for span in _spans(hit, before, after)
    ]
    if not wanted:
        return {}
    condition = Q()
    for document_id, _, _, first_page, last_page in wanted:
        condition |= Q(document_id=document_id, number__gte=first_page, number__lte=last_page)
    pages: dict[int, list[tuple[int, str]]] = {}
    for page in Page.objects.filter(condition).only("document", "text", "char_start"):
        pages.setdefault(page.document_id, []).append((page.char_start, page.text))
    return {
        (document_id, start, end): _slice(pages.get(document_id, []), start, end)
        for document_id, start, end, _, _ in wanted
    }


def _slice(pages: Sequence[tuple[int, str]], start: int, end: int) -> str:
    """Document text [start, end) from (char_start, text) pages; separators and anything no
    page covers are whitespace (Page.PAGE_SEPARATOR is two line breaks)."""
    out = ["\n"] * (end - start)
    for page_start, text in pages:
        low, high = max(start, page_start), min(end, page_start + len(text))
        for offset in range(low, high):
            out[offset - start] = text[offset - page_start]
    return "".join(out)


def _joined(
    hit: SearchHit,
    before: Chunk | None,
    after: Chunk | None,
    gaps: dict[tuple[int, int, int], str],
) -> SearchHit:
    text = hit.text
    char_start, char_end = hit.char_start, hit.char_end
    page_start, page_end = hit.page_start, hit.page_end
    if char_start is None or char_end is None:
        return hit
    if after is not None:
        if after.char_start < char_end:  # chunks overlap by a few tokens
            text += after.text[char_end - after.char_start :]
        else:
            text += gaps.get((hit.document_id, char_end, after.char_start), "") + after.text
        char_end = max(char_end, after.char_end)
        page_end = max(page_end or after.page_end, after.page_end)
    if before is not None:
        if before.char_end > char_start:
            text = before.text[: max(0, char_start - before.char_start)] + text
        else:
            text = before.text + gaps.get((hit.document_id, before.char_end, char_start), "") + text
        char_start = min(char_start, before.char_start)
        page_start = min(page_start or before.page_start, before.page_start)
    return replace(
        hit,
        text=text,
        char_start=char_start,
        char_end=char_end,
        page_start=page_start,
        page_end=page_end,
    )

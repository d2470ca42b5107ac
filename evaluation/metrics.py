"""Retrieval and answer metrics: pure functions, tested without a database (bench/ imports them).

A ranking is given as relevance flags (`True` where the hit at that position is relevant), so
the same functions serve answer passages, files and SciFact abstracts. nDCG, shared with
bench/scifact.py, is `_common.ndcg_at_k`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def normalise(text: str) -> str:
    """Case and whitespace do not matter when looking for an answer string in a chunk:
    chunking re-flows lines and users type in any case."""
    return " ".join(text.split()).casefold()


def contains_answer(text: str, answer: str) -> bool:
    return normalise(answer) in normalise(text)


def figure_pattern(figure: str) -> re.Pattern[str]:
    """A figure as a whole number: "959" must not match inside "82,959" or "959.5"."""
    return re.compile(rf"(?<![\d.,]){re.escape(figure)}(?!\d|[.,]\d)")


def contains_figure(text: str, figure: str) -> bool:
    return figure_pattern(figure).search(text) is not None


def first_relevant_rank(flags: Sequence[bool]) -> int | None:
    """1-based position of the first relevant hit, or None."""
    return next((i for i, flag in enumerate(flags, start=1) if flag), None)


def hit_at_k(flags: Sequence[bool], *, k: int) -> float:
    return 1.0 if any(flags[:k]) else 0.0


def reciprocal_rank(flags: Sequence[bool], *, k: int = 10) -> float:
    rank = first_relevant_rank(flags[:k])
    return 1.0 / rank if rank else 0.0


def unique_in_order(items: Sequence[str]) -> list[str]:
    """Documents ranked by their best chunk."""
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class Abstention:
    abstained: int  # questions on which the configuration abstained
    correct: int  # ... of which the corpus indeed has no answer
    unanswerable: int  # questions the corpus does not answer

    @property
    def precision(self) -> float | None:
        """None when nothing was abstained on: precision is undefined, not 0 or 1."""
        return self.correct / self.abstained if self.abstained else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.unanswerable if self.unanswerable else None


def abstention(*, abstained: Sequence[bool], unanswerable: Sequence[bool]) -> Abstention:
    """Abstaining is the positive class: precision = share of abstentions that were right,
    recall = share of unanswerable questions abstained on."""
    if len(abstained) != len(unanswerable):
        raise ValueError("one abstention decision per question")
    return Abstention(
        abstained=sum(abstained),
        correct=sum(a and u for a, u in zip(abstained, unanswerable, strict=True)),
        unanswerable=sum(unanswerable),
    )


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


# --- one question of an evaluation run ------------------------------------------------------


@dataclass(frozen=True)
class Retrieved:
    """A passage an answer was given (or, without those, quoted), best first."""

    document: str  # filename
    page: int | None
    page_end: int | None
    text: str = ""
    score: float | None = None


@dataclass(frozen=True)
class Expected:
    documents: tuple[str, ...] = ()  # filenames; any of them counts
    pages: tuple[int, ...] = ()  # any of them counts (within an expected document)
    answer: str = ""
    answerable: bool = True


def is_relevant(passage: Retrieved, expected: Expected) -> bool:
    """A passage is relevant when it comes from an expected document and covers an expected
    page; with no expected documents, when it contains the expected answer string."""
    if expected.documents:
        if passage.document not in expected.documents:
            return False
        if not expected.pages:
            return True
        if passage.page is None:
            return False
        last = passage.page_end or passage.page
        return any(passage.page <= page <= last for page in expected.pages)
    if expected.answer:
        return contains_answer(passage.text, expected.answer)
    return False


def relevance_flags(retrieved: Sequence[Retrieved], expected: Expected) -> list[bool]:
    return [is_relevant(passage, expected) for passage in retrieved]


def answer_in_quotes(quotes: Sequence[str], expected_answer: str) -> bool | None:
    """Whether the expected answer string appears in what the answer cites; None when the
    question has no expected string."""
    if not expected_answer.strip():
        return None
    return any(contains_answer(quote, expected_answer) for quote in quotes)


def quote_on_page(quote: str, page_text: str) -> bool:
    """A quote is found on its page when each of its parts (split at an ellipsis, where a
    citation was trimmed) appears in the page's text, ignoring case and line breaks."""
    page = normalise(page_text)
    parts = [normalise(part) for part in re.split(r"…|\.\.\.", quote)]
    parts = [part for part in parts if part]
    return bool(parts) and all(part in page for part in parts)


def abstention_correct(*, abstained: bool, answerable: bool) -> bool:
    """Right to abstain on an unanswerable question, right to answer an answerable one."""
    return abstained != answerable

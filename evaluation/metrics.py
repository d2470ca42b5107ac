"""Retrieval and answer metrics: pure functions, tested without a database (bench/ imports them).

A ranking is given as relevance flags (`True` where the hit at that position is relevant), so
the same functions serve answer passages, files and SciFact abstracts. nDCG, shared with
bench/scifact.py, is `_common.ndcg_at_k`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def normalise(text: str) -> str:
    """Case and whitespace do not matter when looking for an answer string in a chunk:
    chunking re-flows lines and users type in any case."""
    return " ".join(text.split()).casefold()


def contains_answer(text: str, answer: str) -> bool:
    return normalise(answer) in normalise(text)


# --- is the expected answer stated in a passage? ---------------------------------------------

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212"), "-")
_QUOTES = {ord("\u2018"): "'", ord("\u2019"): "'", ord("\u201c"): '"', ord("\u201d"): '"'}
# A whole number as text writes it: "1,234", "1234", "1,234.5", "0.75"; not inside a longer
# number or word ("959" is not in "82,959", "4" is not in "Q4").
_NUMBER = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w]|[.,]\d)")
_SCALES = {"thousand": 3, "k": 3, "million": 6, "mn": 6, "m": 6, "billion": 9, "bn": 9, "b": 9}
# An expected answer that is one amount: an optional sign and currency, the number, an
# optional percent sign or scale word, an optional currency after it ("$1,234 million",
# "-4.5%", "EUR 12.5 billion", "1,234 USD").
_CURRENCY = r"(?:[$€£¥]|usd|eur|gbp|jpy|chf|us\$)"
_AMOUNT = re.compile(
    rf"^[-+]?\s*(?:{_CURRENCY}\s*)?\(?(?P<number>(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?)\)?"
    rf"\s*(?:(?P<percent>%|percent)|(?P<scale>{'|'.join(_SCALES)})\b)?\.?"
    rf"\s*(?:{_CURRENCY})?$"
)


def normalise_answer(text: str) -> str:
    """`normalise`, and Unicode compatibility forms, dashes and curly quotes folded, so that
    an answer typed on a keyboard is found in text set by a PDF (with non-breaking hyphens,
    en dashes, typographic apostrophes, ligatures)."""
    text = unicodedata.normalize("NFKC", text).translate(_DASHES).translate(_QUOTES)
    return normalise(text)


def _value(number: str) -> Decimal:
    return Decimal(number.replace(",", ""))


def amount_of(answer: str) -> tuple[Decimal, int] | None:
    """(value, scale exponent) when the whole answer is one amount, else None."""
    match = _AMOUNT.match(normalise_answer(answer))
    if match is None:
        return None
    scale = _SCALES.get(match.group("scale") or "", 0)
    return _value(match.group("number")), scale


def numbers_in(text: str) -> set[Decimal]:
    return {_value(match.group()) for match in _NUMBER.finditer(normalise_answer(text))}


def _phrase(answer: str) -> re.Pattern[str]:
    """`answer` where it is not part of a longer word or number at either end."""
    head = r"(?<!\w)(?<!\d[.,])" if answer[0].isalnum() else ""
    tail = r"(?!\w)(?![.,]\d)" if answer[-1].isalnum() else ""
    return re.compile(head + re.escape(answer) + tail)


def answer_found(text: str, answer: str) -> bool:
    """Whether a passage states the expected answer.

    - The answer's text appears in the passage, ignoring case, spacing and line breaks,
      Unicode compatibility forms, and the kind of dash or quote, and not as part of a longer
      word or number ("4" is not in "Q4", "82,959" not in "82,959.5").
    - Or the answer is one amount (a number with an optional currency, percent sign or scale
      word) and the passage has the same number as a whole number: separators, currency,
      percent sign and scale word may be missing, as in a table whose header says "in
      millions" or "%" ("$1,234 million" is found in "Total 1,234", "43.3%" in "43.3"). The
      amount also counts in the next smaller scale, as tables state it ("$19.145 billion" is
      found in "(19,145)", in millions). A number never matches inside another ("1,234" is
      not in "11,234" or "1,234.5"); rounding does not count ("$7.7 billion" is not "7,730").
    """
    if not answer.strip():
        return False
    if _phrase(normalise_answer(answer)).search(normalise_answer(text)):
        return True
    amount = amount_of(answer)
    if amount is None:
        return False
    value, scale = amount
    found = numbers_in(text)
    if value in found:
        return True
    # The same amount one scale down: billions as millions, millions as thousands.
    return scale >= 6 and value * 1000 in found


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
        return answer_found(passage.text, expected.answer)
    return False


def relevance_flags(retrieved: Sequence[Retrieved], expected: Expected) -> list[bool]:
    return [is_relevant(passage, expected) for passage in retrieved]


def answer_in_quotes(quotes: Sequence[str], expected_answer: str) -> bool | None:
    """Whether the expected answer is stated (`answer_found`) in what the answer cites: the
    passages its citations quote, as the reader sees them. None when the question has no
    expected string."""
    if not expected_answer.strip():
        return None
    return any(answer_found(quote, expected_answer) for quote in quotes)


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

"""Each metric on a tiny hand-made case whose right value is known."""

from __future__ import annotations

import pytest

from evaluation.metrics import (
    Expected,
    Retrieved,
    abstention,
    abstention_correct,
    answer_in_quotes,
    hit_at_k,
    is_relevant,
    quote_on_page,
    reciprocal_rank,
    relevance_flags,
)

RANKING = [
    Retrieved(document="cars.md", page=1, page_end=1, text="Cars are leased for four years."),
    Retrieved(document="meals.md", page=3, page_end=3, text="Meals: 45 euros per day."),
    Retrieved(document="meals.md", page=1, page_end=2, text="Receipts within thirty days."),
]


def test_relevance_by_document_and_page_range():
    expected = Expected(documents=("meals.md",), pages=(2,))
    assert relevance_flags(RANKING, expected) == [False, False, True]
    assert relevance_flags(RANKING, Expected(documents=("meals.md",))) == [False, True, True]
    assert not is_relevant(Retrieved(document="meals.md", page=None, page_end=None), expected)


def test_relevance_by_answer_string_when_no_document_is_expected():
    expected = Expected(answer="45 EUROS")
    assert relevance_flags(RANKING, expected) == [False, True, False]


@pytest.mark.parametrize(
    ("flags", "hit1", "hit5", "rr"),
    [
        ([True, False], 1.0, 1.0, 1.0),
        ([False, False, True], 0.0, 1.0, 1 / 3),
        ([False] * 5 + [True], 0.0, 0.0, 1 / 6),
        ([False] * 10 + [True], 0.0, 0.0, 0.0),  # MRR counts the first ten
        ([], 0.0, 0.0, 0.0),
    ],
)
def test_hit_at_1_hit_at_5_and_reciprocal_rank(flags, hit1, hit5, rr):
    assert hit_at_k(flags, k=1) == hit1
    assert hit_at_k(flags, k=5) == hit5
    assert reciprocal_rank(flags) == pytest.approx(rr)


def test_mean_reciprocal_rank_of_a_set():
    ranks = [reciprocal_rank(f) for f in ([True], [False, True], [False, False, False, True])]
    assert sum(ranks) / len(ranks) == pytest.approx((1 + 0.5 + 0.25) / 3)


def test_answer_in_cited_quotes():
    quotes = ["Meal expenses are reimbursed up to 45 euros\nper day."]
    assert answer_in_quotes(quotes, "45 euros per day") is True
    assert answer_in_quotes(quotes, "50 euros") is False
    assert answer_in_quotes(quotes, "") is None
    assert answer_in_quotes([], "45 euros") is False


def test_quote_on_page_ignores_case_and_line_breaks_and_follows_ellipses():
    page = "Travel\n\nMeal expenses are reimbursed up to 45 euros per day when travelling abroad."
    assert quote_on_page("meal expenses are reimbursed\nup to 45 euros", page)
    assert quote_on_page("Meal expenses … when travelling abroad.", page)
    assert not quote_on_page("Meal expenses are reimbursed up to 50 euros", page)
    assert not quote_on_page("", page)


def test_abstention_correctness():
    assert abstention_correct(abstained=True, answerable=False)
    assert abstention_correct(abstained=False, answerable=True)
    assert not abstention_correct(abstained=True, answerable=True)
    assert not abstention_correct(abstained=False, answerable=False)
    result = abstention(
        abstained=[True, True, False, False], unanswerable=[True, False, True, False]
    )
    assert (result.abstained, result.correct, result.unanswerable) == (2, 1, 2)
    assert result.precision == 0.5
    assert result.recall == 0.5

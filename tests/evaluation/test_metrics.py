"""Each metric on a tiny hand-made case whose right value is known."""

from __future__ import annotations

import pytest

from evaluation.metrics import (
    Expected,
    Retrieved,
    abstention,
    abstention_correct,
    answer_found,
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


# A statement of operations as a PDF sets it: amounts in millions, without currency.
TABLE = """CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS
(In millions, except per share amounts)
Products $ 63,355 $ 63,948
Total net sales 82,959 81,434
Additions to property, plant and equipment (19,145) (11,579)
Gross margin percentage 43.3 % 42.0 %
Net cash provided by operating activities 7,730 24,053
Earnings per share 1.20 in Q4, net\u2011of\u2011tax"""


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ("$82,959 million", True),  # the amount as an analyst writes it, the table's number
        ("82,959", True),
        ("82959", True),  # separators do not matter
        ("USD 82,959 million", True),
        ("$19.145 billion", True),  # billions, stated in the table in millions
        ("$7.7 billion", False),  # rounded: 7,730 is not 7,700
        ("43.3%", True),  # the percent sign apart in the table
        ("42.0 percent", True),
        ("$2,959 million", False),  # never inside a longer number
        ("1.2", True),  # the same number ("1.20")
        ("1", False),  # not the start of a decimal
        ("4", False),  # nor inside a word ("Q4")
        ("63,948", True),
        ("total NET sales", True),  # phrases: case and spacing do not matter
        ("net-of-tax", True),  # a keyboard hyphen finds the PDF's non-breaking one
        ("net sales 82,959 81,434 304,182", False),  # a phrase must be there in full
        ("81,434 and 82,959", False),  # two amounts are a phrase, not an amount
    ],
)
def test_an_expected_answer_is_found_in_a_passage_normalised(answer, found):
    assert answer_found(TABLE, answer) is found


def test_answer_in_cited_quotes_finds_an_amount_written_with_its_unit():
    quotes = ["Cash flows from operating activities were $11.4 billion.", TABLE]
    assert answer_in_quotes(quotes, "$82,959 million") is True
    assert answer_in_quotes(quotes[:1], "$82,959 million") is False
    assert answer_in_quotes(quotes[:1], "11.4 billion") is True


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

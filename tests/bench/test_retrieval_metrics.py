from __future__ import annotations

import math

import pytest
import retrieval_sets
from _common import ndcg_at_k
from retrieval_metrics import (
    abstention,
    contains_answer,
    contains_figure,
    first_relevant_rank,
    hit_at_k,
    reciprocal_rank,
    unique_in_order,
)

# Relevance of a hand-made ranking, best hit first: relevant at ranks 3 and 6.
RANKING = [False, False, True, False, False, True, False]


def test_hit_at_k_counts_a_relevant_hit_within_the_first_k():
    assert hit_at_k(RANKING, k=1) == 0.0
    assert hit_at_k(RANKING, k=2) == 0.0
    assert hit_at_k(RANKING, k=3) == 1.0
    assert hit_at_k(RANKING, k=5) == 1.0
    assert hit_at_k([], k=5) == 0.0


def test_reciprocal_rank_is_one_over_the_first_relevant_rank_within_k():
    assert first_relevant_rank(RANKING) == 3
    assert reciprocal_rank(RANKING, k=10) == pytest.approx(1 / 3)
    assert reciprocal_rank([True], k=10) == 1.0
    assert reciprocal_rank(RANKING, k=2) == 0.0
    assert reciprocal_rank([False] * 10 + [True], k=10) == 0.0
    assert first_relevant_rank([False, False]) is None


def test_ndcg_is_one_for_the_ideal_order_and_discounts_lower_ranks():
    qrels = {"a": 1, "b": 1}
    assert ndcg_at_k(["a", "b", "x"], qrels) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], qrels) == 0.0
    # One of two relevant documents, at rank 2: (1/log2 3) / (1 + 1/log2 3).
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["x", "a", "y"], qrels) == pytest.approx(expected)
    # A relevant document below the cut-off earns nothing.
    assert ndcg_at_k([*"xxxxxxxxxx", "a"], {"a": 1}) == 0.0


def test_ndcg_uses_graded_gains():
    qrels = {"a": 2, "b": 1}
    assert ndcg_at_k(["a", "b"], qrels) == pytest.approx(1.0)
    ideal = 3 + 1 / math.log2(3)
    assert ndcg_at_k(["b", "a"], qrels) == pytest.approx((1 + 3 / math.log2(3)) / ideal)


def test_documents_are_ranked_by_their_best_chunk():
    assert unique_in_order(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_abstention_precision_and_recall_treat_abstaining_as_the_positive_class():
    unanswerable = [False, False, True, True, True]
    result = abstention(abstained=[True, False, True, False, False], unanswerable=unanswerable)
    assert (result.abstained, result.correct, result.unanswerable) == (2, 1, 3)
    assert result.precision == pytest.approx(1 / 2)
    assert result.recall == pytest.approx(1 / 3)


def test_never_abstaining_has_recall_zero_and_no_precision():
    result = abstention(abstained=[False] * 4, unanswerable=[False, True, True, False])
    assert result.recall == 0.0
    assert result.precision is None


def test_abstention_needs_one_decision_per_question():
    with pytest.raises(ValueError, match="one abstention decision per question"):
        abstention(abstained=[True], unanswerable=[True, False])


def test_answers_match_ignoring_case_and_line_breaks():
    chunk = "By default, the `dist`\n   directory will be used by default."
    assert contains_answer(chunk, "the `DIST` directory will be used")
    assert not contains_answer(chunk, "the build directory")


def test_figures_match_whole_numbers_only():
    chunk = "Total net sales were $ 82,959 million, up 2.5% (959 stores)."
    assert contains_figure(chunk, "82,959")
    assert contains_figure(chunk, "2.5")
    assert contains_figure(chunk, "959")  # the standalone 959, not the tail of 82,959
    assert not contains_figure("net sales of $82,959", "959")
    assert not contains_figure("a margin of 43.35%", "43.3")
    assert not contains_figure("1,082,959 units", "82,959")


def test_key_figures_skip_dates_years_periods_and_file_names():
    answer = (
        "For the quarter ended June 25, 2022, net sales were $82,959 million (SOURCE: 2022 Q3 "
        "AAPL.pdf), a 43.3% margin in fiscal 2022 and 3 segments; in Q3 2023, $20.34 billion, "
        "that is (20.34 / 82.959) * 100 = 24.5%.\n"
        "SOURCE(S): 2022 Q3 AAPL.pdf, 2023 Q3 AAPL.pdf"
    )
    assert retrieval_sets.key_figures(answer) == ("82,959", "43.3", "20.34", "82.959", "24.5")


def test_sec_source_globs_name_the_filings_as_docent_stores_them():
    stored = ["2023_Q2_AAPL.pdf", "2023_Q3_AAPL.pdf", "2023_Q3_MSFT.pdf"]
    assert retrieval_sets.sec_sources("*2023 Q3 AAPL*", stored) == {"2023_Q3_AAPL.pdf"}
    assert retrieval_sets.sec_sources("*AAPL*", stored) == {"2023_Q2_AAPL.pdf", "2023_Q3_AAPL.pdf"}


def test_every_techdocs_answer_is_in_the_parsed_text_of_its_file():
    records = retrieval_sets.techdocs_records()
    answerable = [r for r in records if r["file"]]
    assert len(answerable) >= 60
    assert len(records) - len(answerable) >= 10
    assert retrieval_sets.techdocs_check() == []


def test_the_techdocs_check_reports_an_answer_its_file_does_not_contain(tmp_path, monkeypatch):
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        '{"id": "t1", "question": "?", "file": "version.md", "answer": "hatch version minor"}\n'
        '{"id": "t2", "question": "?", "file": "version.md", "answer": "not in this file"}\n'
        '{"id": "t3", "question": "?", "file": "missing.md", "answer": "x"}\n'
        '{"id": "u1", "question": "?", "file": null, "answer": null}\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(retrieval_sets, "TECHDOCS_QUESTIONS", questions)
    assert retrieval_sets.techdocs_check() == [
        "t2: 'not in this file' is not in the parsed text of version.md",
        "t3: no file missing.md",
    ]

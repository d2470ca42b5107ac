from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from chat.models import Message
from evaluation.models import EvaluationResult, Interface, Question, RunStatus
from evaluation.runs import (
    configurations_clean,
    evaluation_run_create,
    evaluation_run_execute,
    run_disagreements,
)
from tests.evaluation.conftest import UNANSWERABLE, ingest_corpus, make_question_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def local(db):
    return ingest_corpus(slug="local")


def results_of(run):
    return {(r.configuration, r.question.text): r for r in EvaluationResult.objects.filter(run=run)}


def test_a_run_answers_every_question_under_every_configuration(local):
    question_set = make_question_set(local)
    run = evaluation_run_create(
        question_set=question_set,
        configurations=[{"label": "k6"}, {"label": "k1", "top_k": 1}],
        enqueue=False,
    )
    assert run.progress_total == 6
    seen = []
    run = evaluation_run_execute(run_id=run.pk, progress=lambda r: seen.append(r.progress_done))
    assert run.status == RunStatus.DONE
    assert seen == [1, 2, 3, 4, 5, 6]
    results = results_of(run)
    assert len(results) == 6
    meals = results[("k6", "How much are meal expenses reimbursed per day abroad?")]
    assert meals.hit_at_1 == 1.0
    assert meals.hit_at_5 == 1.0
    assert meals.reciprocal_rank == 1.0
    assert meals.retrieved[0]["document"] == "meals.md"
    assert meals.answer_in_citations is True
    assert meals.citations_valid is True
    assert meals.abstained is False
    assert meals.abstention_correct is True
    assert meals.cost_usd == 0.0  # extractive: no model, no tokens
    assert meals.total_ms is not None
    assert meals.first_token_ms is not None
    assert (
        len(results[("k1", "How much are meal expenses reimbursed per day abroad?")].retrieved) == 1
    )
    unanswerable = results[("k6", UNANSWERABLE)]
    assert unanswerable.abstained is True
    assert unanswerable.abstention_correct is True
    assert unanswerable.hit_at_5 is None  # no ranking metric for a question with no answer
    assert unanswerable.answer_in_citations is None
    # Each answer is stored like any other, with provenance marked as an evaluation.
    message = Message.objects.get(pk=meals.message_id)
    assert message.provenance.interface == Interface.EVALUATION
    summary = run.summary["k6"]
    assert summary["questions"] == 3
    assert summary["hit_at_5"] == 1.0
    assert summary["abstention_correct"] == 1.0
    assert summary["abstention_precision"] == 1.0
    assert summary["cost_usd"] == 0.0
    assert summary["errors"] == 0


def test_running_a_run_again_duplicates_nothing(local):
    run = evaluation_run_create(
        question_set=make_question_set(local), configurations=[{}], enqueue=False
    )
    evaluation_run_execute(run_id=run.pk)
    assert evaluation_run_execute(run_id=run.pk) is None  # finished: not claimable
    assert EvaluationResult.objects.filter(run=run).count() == 3


def test_a_run_is_enqueued_after_commit(local, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    from evaluation import tasks

    monkeypatch.setattr(tasks.evaluation_run_execute, "delay", lambda **kw: sent.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_run_create(question_set=make_question_set(local), configurations=[{}])
    assert sent == [{"run_id": run.pk}]


def test_disagreements_list_questions_where_configurations_differ(local):
    question_set = make_question_set(local)
    run = evaluation_run_create(
        question_set=question_set,
        configurations=[{"label": "a"}, {"label": "b"}],
        enqueue=False,
    )
    run = evaluation_run_execute(run_id=run.pk)
    assert run_disagreements(run) == []
    result = EvaluationResult.objects.get(run=run, configuration="b", question__answerable=False)
    result.abstention_correct = False
    result.save()
    rows = run_disagreements(run)
    assert [row["question"].text for row in rows] == [UNANSWERABLE]
    assert [r.configuration for r in rows[0]["results"]] == ["a", "b"]


def test_drafts_are_not_evaluated(local):
    question_set = make_question_set(local)
    Question.objects.create(question_set=question_set, text="Draft?", confirmed=False)
    run = evaluation_run_create(question_set=question_set, configurations=[{}], enqueue=False)
    assert run.progress_total == 3


@pytest.mark.parametrize(
    ("configurations", "message"),
    [
        ([], "at least one configuration"),
        ([{"colour": "red"}], "unknown key(s) colour"),
        ([{"corpus": "nope"}], "there is no corpus “nope”"),
        ([{"strategy": "file_search"}], "cannot be answered with it"),
        ([{"strategy": "telepathy"}], "Unknown strategy"),
        ([{"top_k": 0}], "top_k is 1 to 50"),
        ([{"rerank": True}], "no reranker is configured"),
        ([{"index_version": 7}], "answers from index version 1 only"),
        ([{"label": "x"}, {"label": "x", "top_k": 2}], "its own label"),
    ],
)
def test_bad_configurations_are_refused_with_a_reason(local, configurations, message):
    with pytest.raises(ValidationError) as error:
        configurations_clean(corpus=local, configurations=configurations)
    assert message in str(error.value)


def test_labels_default_to_what_the_configuration_changes(local):
    other = ingest_corpus(slug="other")
    cleaned = configurations_clean(
        corpus=local, configurations=[{}, {"top_k": 3, "rerank": False, "corpus": "other"}]
    )
    assert [c["label"] for c in cleaned] == [
        "manual_retrieval",
        "manual_retrieval @other k=3 no rerank",
    ]
    assert cleaned[1]["corpus"] == other.slug


def test_a_set_without_confirmed_questions_cannot_run(local):
    question_set = make_question_set(local)
    question_set.questions.update(confirmed=False)
    with pytest.raises(ValidationError, match="no confirmed questions"):
        evaluation_run_create(question_set=question_set, configurations=[{}], enqueue=False)

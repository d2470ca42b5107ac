"""An OpenAI vector-store corpus (the fake server) and a pgvector corpus holding the same files,
compared on one question set."""

from __future__ import annotations

import pytest

from evaluation.models import EvaluationResult
from evaluation.runs import evaluation_run_create, evaluation_run_execute
from tests.evaluation.conftest import ingest_corpus, make_question_set

pytestmark = pytest.mark.django_db


def test_pgvector_and_openai_vector_store_side_by_side(settings, fake_openai):
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "test"
    settings.OPENAI_MAX_RETRIES = 0
    fake_openai.processing_polls = 0
    local = ingest_corpus(slug="local")
    remote = ingest_corpus(slug="remote", index_backend="openai")
    question_set = make_question_set(local)
    run = evaluation_run_create(
        question_set=question_set,
        configurations=[
            {"label": "pgvector"},
            {"label": "file search", "corpus": "remote"},
            {
                "label": "manual over the vector store",
                "corpus": "remote",
                "strategy": "manual_retrieval",
            },
        ],
        enqueue=False,
    )
    run = evaluation_run_execute(run_id=run.pk)
    assert run.status == "done", run.error
    assert [c["strategy"] for c in run.configurations] == [
        "manual_retrieval",
        "file_search",
        "manual_retrieval",
    ]
    results = {
        (r.configuration, r.question.expected_answer): r
        for r in EvaluationResult.objects.filter(run=run).select_related("question")
    }
    for label in ("pgvector", "file search", "manual over the vector store"):
        meals = results[(label, "45 euros")]
        assert meals.error == "", meals.error
        assert meals.retrieved, label
        assert meals.retrieved[0]["document"] == "meals.md", (label, meals.retrieved)
        assert meals.hit_at_5 == 1.0, label
        assert run.summary[label]["questions"] == 3
    # File Search is billed by tokens; the fake server reports them, and gpt-4.1-mini is priced.
    file_search = results[("file search", "45 euros")]
    assert file_search.prompt_tokens > 0
    assert file_search.cost_usd is not None
    assert file_search.cost_usd > 0
    assert results[("pgvector", "45 euros")].cost_usd == 0.0
    assert remote.index_backend == "openai"

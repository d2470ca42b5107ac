from __future__ import annotations

import json
import re

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import EvaluationRun
from tests.evaluation.conftest import ingest_corpus, make_question_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def local(db):
    corpus = ingest_corpus(slug="local")
    make_question_set(corpus)
    return corpus


def test_evaluate_prints_json_and_keeps_the_run(local, capsys):
    call_command("evaluate", "--corpus", "local", "--set", "golden", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["manual_retrieval"]["hit_at_5"] == 1.0
    assert data["failures"] == []
    assert EvaluationRun.objects.get(pk=data["run"]).status == "done"


def test_evaluate_fails_under_a_threshold(local, capsys):
    with pytest.raises(CommandError, match=r"k1: MRR 1.000 < 1.10") as error:
        call_command(
            "evaluate",
            "--corpus", "local", "--set", "golden",
            "--configuration", '{"label": "k1", "top_k": 1}',
            "--min-hit5", "0.5", "--min-mrr", "1.1",
        )  # fmt: skip
    assert "hit@5" not in str(error.value)
    assert "| k1 | 3 |" in capsys.readouterr().out


def test_evaluate_passes_over_thresholds(local, capsys):
    call_command("evaluate", "--corpus", "local", "--set", "golden", "--min-hit5", "0.9")
    assert "| manual_retrieval | 3 | 1.000 | 1.000 | 1.000 |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--corpus", "nope", "--set", "golden"], "no corpus “nope”"),
        (["--corpus", "local", "--set", "other"], "has no question set “other” (it has: golden)"),
        (["--corpus", "local", "--set", "golden", "--strategy", "file_search"], "cannot be"),
        (["--corpus", "local", "--set", "golden", "--configuration", "{"], "not JSON"),
    ],
)
def test_evaluate_refuses_bad_input(local, arguments, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("evaluate", *arguments)


def test_evaluate_can_import_the_set_first(local, tmp_path, capsys):
    path = tmp_path / "set.csv"
    path.write_text(
        "question,expected_documents,expected_answer,answerable\n"
        "How much are meal expenses reimbursed per day abroad?,meals.md,45 euros,\n"
    )
    call_command("evaluate", "--corpus", "local", "--set", "ci", "--import", str(path), "--json")
    assert json.loads(capsys.readouterr().out)["summary"]["manual_retrieval"]["questions"] == 1

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from api import services as api_services
from api.models import ApiInterface
from api.scopes import scopes_parse
from chat import services as chat_services
from evaluation.models import EvaluationRun, Question, QuestionSet

pytestmark = pytest.mark.django_db

QUESTION = "How much are meal expenses reimbursed abroad?"


def token_for(user, scopes):
    token, plaintext = api_services.token_create(user=user, name="t", scopes=scopes_parse(scopes))
    return token, Client(headers={"Authorization": f"Bearer {plaintext}"})


@pytest.fixture
def answers(corpus, people):
    token, _ = token_for(people.reader, ["policies:query"])
    conversation = api_services.api_conversation_start(
        token=token, corpus=corpus, interface=ApiInterface.REST
    )
    via_api = chat_services.message_ask_collect(conversation=conversation, question=QUESTION)
    web = chat_services.conversation_start(corpus=corpus, user=people.owner)
    via_web = chat_services.message_ask_collect(conversation=web, question=QUESTION)
    return token, via_api, via_web


def body(response):
    return b"".join(response.streaming_content).decode()


def test_a_manage_token_exports_provenance_as_jsonl_and_csv(answers, people):
    reader_token, via_api, via_web = answers
    _, client = token_for(people.owner, ["policies:manage"])
    response = client.get("/api/corpora/policies/provenance")
    assert response.status_code == 200
    lines = [json.loads(line) for line in body(response).splitlines()]
    assert {line["message_id"] for line in lines} == {via_api.pk, via_web.pk}
    by_token = client.get(f"/api/corpora/policies/provenance?token={reader_token.pk}")
    [line] = [json.loads(line) for line in body(by_token).splitlines()]
    assert line["interface"] == "rest"
    assert line["user"] == "rita"
    assert line["passages"][0]["text_sha256"]
    rows = list(
        csv.DictReader(
            io.StringIO(body(client.get("/api/corpora/policies/provenance?format=csv&user=olivia")))
        )
    )
    assert {row["message_id"] for row in rows} == {str(via_web.pk)}
    assert client.get("/api/corpora/policies/provenance?interface=fax").status_code == 422


@pytest.mark.parametrize(
    ("who", "scopes", "status"),
    [
        ("reader", ["policies:query"], 403),
        ("owner", ["policies:query"], 403),
        ("outsider", ["*:manage"], 404),
    ],
)
def test_export_needs_the_manage_permission(answers, people, who, scopes, status):
    _, client = token_for(getattr(people, who), scopes)
    assert client.get("/api/corpora/policies/provenance").status_code == status


def test_start_and_follow_a_run(corpus, people, django_capture_on_commit_callbacks, monkeypatch):
    from evaluation import tasks

    sent = []
    monkeypatch.setattr(tasks.evaluation_run_execute, "delay", lambda **kw: sent.append(kw))
    question_set = QuestionSet.objects.create(corpus=corpus, name="golden")
    Question.objects.create(
        question_set=question_set, text=QUESTION, expected_documents=["meals.md"]
    )
    _, client = token_for(people.owner, ["policies:manage"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/corpora/policies/evaluation-runs",
            {
                "question_set": "golden",
                "configurations": [{"label": "a"}, {"label": "b", "top_k": 2}],
            },
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    run = EvaluationRun.objects.get()
    assert sent == [{"run_id": run.pk}]
    data = client.get(f"/api/evaluation-runs/{run.pk}").json()
    assert data["status"] == "queued"
    assert data["progress_total"] == 2
    missing = client.post(
        "/api/corpora/policies/evaluation-runs",
        {"question_set": "nope"},
        content_type="application/json",
    )
    assert missing.status_code == 422
    assert "no question set “nope”" in missing.json()["error"]["message"]
    _, reader = token_for(people.reader, ["policies:query,manage"])
    assert reader.get(f"/api/evaluation-runs/{run.pk}").status_code == 403


def test_every_export_is_in_the_audit_log(answers, people):
    from audit.models import AuditEvent

    _, client = token_for(people.owner, ["policies:manage"])
    body(client.get("/api/corpora/policies/provenance?format=csv&user=rita"))
    event = AuditEvent.objects.filter(action="data.exported").latest("id")
    assert event.target_type == "provenance"
    assert event.details["format"] == "csv"
    assert event.details["filters"]["user"] == "rita"
    assert event.actor_label == "olivia"

from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from chat import services as chat_services
from documents.models import CorpusMembership, Role
from evaluation.models import AnswerProvenance, EvaluationRun, Question, QuestionSet
from evaluation.runs import evaluation_run_create, evaluation_run_execute
from tests.evaluation.conftest import ingest_corpus, make_question_set
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def local(db):
    return ingest_corpus(slug="local")


def ask(corpus, user, question="How much are meal expenses reimbursed per day abroad?"):
    conversation = chat_services.conversation_start(corpus=corpus, user=user)
    return chat_services.message_ask_collect(conversation=conversation, question=question)


def test_provenance_list_filters_and_exports_what_a_user_was_shown(admin_client, local):
    rita, sam = UserFactory(username="rita"), UserFactory(username="sam")
    for user in (rita, sam):
        CorpusMembership.objects.create(corpus=local, user=user, role=Role.READER)
    answer = ask(local, rita)
    ask(local, sam)
    page = admin_client.get("/admin/evaluation/answerprovenance/", {"user__id__exact": rita.pk})
    assert page.status_code == 200
    assert "Export these as CSV" in page.content.decode()
    response = admin_client.get(
        "/admin/evaluation/answerprovenance/export/csv/", {"user__id__exact": rita.pk}
    )
    assert response["Content-Disposition"].startswith('attachment; filename="provenance-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["user"] for row in rows} == {"rita"}
    assert {int(row["message_id"]) for row in rows} == {answer.pk}
    shown = answer.provenance.passages.get(role="cited", citation_number=1)
    assert shown.text in [row["text"] for row in rows]
    jsonl = admin_client.get(
        "/admin/evaluation/answerprovenance/export/jsonl/", {"q": "meal", "user__id__exact": sam.pk}
    )
    lines = b"".join(jsonl.streaming_content).decode().splitlines()
    assert [json.loads(line)["user"] for line in lines] == ["sam"]
    detail = admin_client.get(f"/admin/evaluation/answerprovenance/{answer.provenance.pk}/change/")
    assert detail.status_code == 200
    assert shown.text_sha256 in detail.content.decode()
    from audit.models import AuditEvent

    exports = AuditEvent.objects.filter(action="data.exported", target_type="provenance")
    assert exports.count() == 2
    assert admin_client.get("/admin/evaluation/answerprovenance/export/xml/").status_code == 400


def test_a_staff_manager_sees_only_the_corpora_they_manage(client, local):
    other = ingest_corpus(slug="other")
    ask(local, None)
    ask(other, None)
    staff = UserFactory(username="mona", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="evaluation"))
    CorpusMembership.objects.create(corpus=other, user=staff, role=Role.MANAGER)
    client.force_login(staff)
    response = client.get("/admin/evaluation/answerprovenance/export/jsonl/")
    corpora = {
        json.loads(line)["corpus"]
        for line in b"".join(response.streaming_content).decode().splitlines()
    }
    assert corpora == {"other"}
    mine = AnswerProvenance.objects.get(corpus=local)
    assert client.get(f"/admin/evaluation/answerprovenance/{mine.pk}/change/").status_code == 302


def test_import_questions_through_the_admin(admin_client, local):
    question_set = QuestionSet.objects.create(corpus=local, name="golden")
    url = f"/admin/evaluation/questionset/{question_set.pk}/import/"
    bad = SimpleUploadedFile("set.csv", b"question,expected_pages\nWhere?,two\n")
    page = admin_client.post(url, {"file": bad})
    assert "line 2" in page.content.decode()
    assert not question_set.questions.exists()
    good = SimpleUploadedFile(
        "set.jsonl",
        b'{"question": "Meals?", "expected_documents": ["meals.md"], "expected_pages": [1]}\n'
        b'{"question": "Mars?", "answerable": false}\n',
    )
    assert admin_client.post(url, {"file": good}).status_code == 302
    assert list(question_set.questions.values_list("text", "answerable")) == [
        ("Meals?", True),
        ("Mars?", False),
    ]


def test_draft_from_feedback_then_confirm(admin_client, local):
    rita = UserFactory(username="rita")
    CorpusMembership.objects.create(corpus=local, user=rita, role=Role.READER)
    liked = ask(local, rita)
    disliked = ask(local, rita, "Which cars are there?")
    chat_services.message_feedback(message=liked, user=rita, rating="up")
    chat_services.message_feedback(message=disliked, user=rita, rating="down")
    question_set = QuestionSet.objects.create(corpus=local, name="from users")
    url = f"/admin/evaluation/questionset/{question_set.pk}/draft-from-feedback/"
    admin_client.post(url)
    admin_client.post(url)  # nothing drafted twice
    drafts = {q.feedback_rating: q for q in question_set.questions.all()}
    assert set(drafts) == {"up", "down"}
    assert not any(q.confirmed for q in drafts.values())
    assert drafts["up"].text == "How much are meal expenses reimbursed per day abroad?"
    assert drafts["up"].expected_documents == ["meals.md"]
    assert drafts["down"].expected_documents == []
    response = admin_client.post(
        "/admin/evaluation/question/",
        {"action": "confirm", "_selected_action": [q.pk for q in drafts.values()]},
        follow=True,
    )
    text = response.content.decode()
    assert "1 questions confirmed" in text
    assert "Name the document(s) that answer it" in text  # the thumbs-down draft is incomplete
    assert Question.objects.get(pk=drafts["up"].pk).confirmed


def test_start_a_run_with_two_configurations_and_read_its_page(
    admin_client, local, django_capture_on_commit_callbacks, monkeypatch
):
    from evaluation import tasks

    monkeypatch.setattr(tasks.evaluation_run_execute, "delay", lambda **kw: None)
    question_set = make_question_set(local)
    form = admin_client.get(f"/admin/evaluation/questionset/{question_set.pk}/run/")
    assert form.status_code == 200
    data = {
        "form-TOTAL_FORMS": "3",
        "form-INITIAL_FORMS": "2",
        "form-MIN_NUM_FORMS": "1",
        "form-MAX_NUM_FORMS": "6",
        "form-0-label": "six",
        "form-0-corpus": "local",
        "form-0-strategy": "",
        "form-1-label": "one",
        "form-1-corpus": "local",
        "form-1-top_k": "1",
        "form-1-rerank": "off",
        "form-2-corpus": "local",  # the untouched extra row
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/evaluation/questionset/{question_set.pk}/run/", data)
    run = EvaluationRun.objects.get()
    assert response.status_code == 302
    assert run.labels == ["six", "one"]
    assert run.configurations[1]["rerank"] is False
    queued = admin_client.get(f"/admin/evaluation/evaluationrun/{run.pk}/change/").content.decode()
    assert 'http-equiv="refresh"' in queued
    evaluation_run_execute(run_id=run.pk)
    second = evaluation_run_create(
        question_set=question_set, configurations=[{"label": "six"}], enqueue=False
    )
    evaluation_run_execute(run_id=second.pk)
    page = admin_client.get(f"/admin/evaluation/evaluationrun/{run.pk}/change/").content.decode()
    assert 'http-equiv="refresh"' not in page
    assert page.count("<svg") >= 4  # metric bars, two latency strips, trend lines
    assert "Questions where the configurations disagree" in page
    assert "hit@5 across runs" in page
    assert "/admin/chat/conversation/" in page


def test_bad_configuration_in_the_form_is_explained(admin_client, local):
    question_set = make_question_set(local)
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "0",
        "form-MIN_NUM_FORMS": "1",
        "form-MAX_NUM_FORMS": "6",
        "form-0-corpus": "local",
        "form-0-strategy": "file_search",
    }
    page = admin_client.post(
        f"/admin/evaluation/questionset/{question_set.pk}/run/", data, follow=True
    )
    assert "cannot be answered with it" in page.content.decode()
    assert not EvaluationRun.objects.exists()

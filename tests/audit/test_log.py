"""The log itself: append-only (ORM, admin and database), read-only and filterable in the
admin, exported as JSON lines (the export audited), expired by the retention task."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit import tasks
from audit.models import Action, AppendOnlyError, AuditEvent
from audit.services import audit_purge_expired, audit_record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client(REMOTE_ADDR="198.51.100.5")
    client.force_login(admin)
    client.admin = admin
    return client


def test_events_cannot_be_changed_or_deleted_through_the_orm():
    event = audit_record(action=Action.CORPUS_CREATED, target_label="Handbook")

    event.target_label = "something else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(target_label="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).target_label == "Handbook"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET target_label = 'x'",
        "DELETE FROM audit_auditevent",
    ],
)
def test_the_database_refuses_updates_and_deletes_too(sql):
    audit_record(action=Action.CORPUS_CREATED, target_label="Handbook")

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.get().target_label == "Handbook"


def test_admin_is_read_only_and_filterable(admin_client):
    audit_record(action=Action.SIGNIN_FAILED, actor_label="mallory", target_label="mallory")
    kept = audit_record(action=Action.CORPUS_CREATED, target_label="Handbook", corpus_id=7)
    url = reverse("admin:audit_auditevent_changelist")

    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"Sign-in failed" in page.content
    assert b"Handbook" in page.content
    assert reverse("admin:audit_auditevent_add").encode() not in page.content

    filtered = admin_client.get(url, {"action": Action.CORPUS_CREATED.value})
    assert b"Handbook" in filtered.content
    assert b"mallory" not in filtered.content
    searched = admin_client.get(url, {"q": "mallory"})
    assert b"mallory" in searched.content
    assert b"Handbook" not in searched.content

    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    change = reverse("admin:audit_auditevent_change", args=[kept.pk])
    assert admin_client.get(change).status_code == 200  # viewable
    admin_client.post(change, {"target_label": "tampered"})
    delete = reverse("admin:audit_auditevent_delete", args=[kept.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    kept.refresh_from_db()
    assert kept.target_label == "Handbook"


def test_staff_without_permission_cannot_see_the_log():
    staff = UserFactory(username="clerk", is_staff=True)
    client = Client()
    client.force_login(staff)

    response = client.get(reverse("admin:audit_auditevent_changelist"))
    assert response.status_code == 403
    assert client.get(reverse("admin:audit_auditevent_export")).status_code == 403


def read_jsonl(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines()]


def test_export_follows_the_filter_and_is_itself_audited(admin_client):
    audit_record(action=Action.SIGNIN_FAILED, actor_label="mallory")
    audit_record(action=Action.CORPUS_CREATED, target_label="Handbook", details={"n": 1})
    audit_record(action=Action.CORPUS_CREATED, target_label="Wiki")

    response = admin_client.get(
        reverse("admin:audit_auditevent_export"), {"action": Action.CORPUS_CREATED.value}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert "attachment" in response["Content-Disposition"]
    lines = read_jsonl(response)
    assert [line["target"] for line in lines] == ["Handbook", "Wiki"]  # oldest first
    assert lines[0]["details"] == {"n": 1}
    assert set(lines[0]) >= {"occurred_at", "action", "actor", "client_address", "target"}
    export = AuditEvent.objects.get(action=Action.EXPORTED)
    assert export.actor_id == admin_client.admin.pk
    assert export.client_address == "198.51.100.5"
    assert export.details["rows"] == 2
    assert export.details["what"] == "audit log"
    assert "corpus.created" in export.details["filter"]


def test_export_of_selected_events_by_admin_action(admin_client):
    first = audit_record(action=Action.CORPUS_CREATED, target_label="Handbook")
    audit_record(action=Action.CORPUS_CREATED, target_label="Wiki")

    response = admin_client.post(
        reverse("admin:audit_auditevent_changelist"),
        {"action": "export_selected", "_selected_action": [first.pk]},
    )

    assert [line["target"] for line in read_jsonl(response)] == ["Handbook"]
    assert AuditEvent.objects.filter(action=Action.EXPORTED).count() == 1


def test_retention_task_removes_only_expired_events_and_says_so(settings):
    settings.AUDIT_RETENTION_DAYS = 30
    AuditEvent.objects.create(
        action=Action.CORPUS_CREATED,
        channel="system",
        target_label="ancient",
        occurred_at=timezone.now() - dt.timedelta(days=31),
    )
    AuditEvent.objects.create(
        action=Action.CORPUS_CREATED,
        channel="system",
        target_label="recent",
        occurred_at=timezone.now() - dt.timedelta(days=29),
    )

    assert tasks.audit_purge_expired() == 1

    labels = set(AuditEvent.objects.values_list("target_label", flat=True))
    assert "ancient" not in labels
    assert "recent" in labels
    purge = AuditEvent.objects.get(action=Action.PURGED)
    assert purge.details["removed"] == 1
    assert purge.details["retention_days"] == 30
    # The permission to delete ended with the purge's transaction.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")


def test_retention_zero_keeps_everything(settings):
    settings.AUDIT_RETENTION_DAYS = 0
    AuditEvent.objects.create(
        action=Action.CORPUS_CREATED,
        channel="system",
        occurred_at=timezone.now() - dt.timedelta(days=10_000),
    )

    assert audit_purge_expired() == 0
    assert AuditEvent.objects.count() == 1


def test_retention_runs_daily_on_the_housekeeping_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["audit-purge-expired"]
    assert entry["task"] == tasks.audit_purge_expired.name
    assert settings.CELERY_TASK_ROUTES[entry["task"]] == {"queue": settings.HOUSEKEEPING_QUEUE}


def test_provenance_export_is_audited_with_its_filter(admin_client):
    response = admin_client.get("/admin/evaluation/answerprovenance/export/jsonl/", {"q": "meal"})

    assert response.status_code == 200
    b"".join(response.streaming_content)
    export = AuditEvent.objects.get(action=Action.EXPORTED)  # once, not once per layer
    assert export.actor_id == admin_client.admin.pk
    assert export.client_address == "198.51.100.5"
    assert export.details["format"] == "jsonl"


def test_nul_bytes_in_what_is_recorded_are_dropped_not_an_error():
    event = audit_record(
        action=Action.SIGNIN_FAILED,
        actor_label="ad\x00a",
        target_label="ad\x00a",
        details={"typed": "x\x00y", "literal": "\\u0000 stays"},
    )

    event = AuditEvent.objects.get(pk=event.pk)
    assert event.actor_label == "ada"
    assert event.target_label == "ada"
    assert event.details == {"typed": "xy", "literal": "\\u0000 stays"}

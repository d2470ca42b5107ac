"""Deleting while the index cannot be reached (OpenAI answers 503): every interface says so and
keeps the document, instead of failing with a 500."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse

from documents import services
from documents.models import Corpus, Document
from tests.conftest import MEALS, client_for, ingest_text, share

pytestmark = pytest.mark.django_db

FILE_DELETE = r"^/v1/(files|vector_stores)/"


@pytest.fixture
def remote(fake_openai, settings, people) -> Corpus:
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "test"
    settings.OPENAI_MAX_RETRIES = 0
    fake_openai.processing_polls = 0
    corpus = services.corpus_create(name="Policies", slug="policies", index_backend="openai")
    share(corpus, people)
    return corpus


@pytest.fixture
def handbook(remote) -> Document:
    return ingest_text(remote, "handbook.md", MEALS)


def test_the_web_ui_keeps_the_document_and_says_why(people, handbook, fake_openai):
    fake_openai.fail_next("DELETE", FILE_DELETE, status=503, times=5)
    client = client_for(people.contributor)
    url = f"/c/policies/documents/{handbook.pk}/delete"

    response = client.post(url)

    assert response.status_code == 302
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("handbook.md was not deleted" in m and "OpenAI" in m for m in shown)
    assert Document.objects.filter(pk=handbook.pk).exists()


def test_the_upload_page_script_gets_a_503_with_the_reason(people, handbook, fake_openai):
    fake_openai.fail_next("DELETE", FILE_DELETE, status=503, times=5)
    client = client_for(people.contributor)
    url = f"/c/policies/documents/{handbook.pk}/delete"

    response = client.post(url, headers={"Accept": "application/json"})

    assert response.status_code == 503
    assert response.json()["deleted"] is False
    assert "OpenAI" in response.json()["error"]
    assert Document.objects.filter(pk=handbook.pk).exists()


def test_the_admin_keeps_the_document_says_why_and_logs_no_deletion(
    admin_client, handbook, fake_openai
):
    fake_openai.fail_next("DELETE", FILE_DELETE, status=503, times=5)
    url = reverse("admin:documents_document_delete", args=[handbook.pk])

    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:documents_document_change", args=[handbook.pk])
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(m.startswith("Not deleted:") and "OpenAI" in m for m in shown)
    assert not any("deleted successfully" in m for m in shown)
    assert Document.objects.filter(pk=handbook.pk).exists()
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()


def test_the_admin_deletes_a_corpus_it_cannot_reach_at_openai_not_at_all(
    admin_client, remote, handbook, fake_openai
):
    fake_openai.fail_next("DELETE", FILE_DELETE, status=503, times=10)
    url = reverse("admin:documents_corpus_delete", args=[remote.pk])

    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert Corpus.objects.filter(pk=remote.pk).exists()
    assert Document.objects.filter(pk=handbook.pk).exists()


def test_the_admin_bulk_delete_names_each_document_it_kept(admin_client, handbook, fake_openai):
    fake_openai.fail_next("DELETE", FILE_DELETE, status=503, times=5)
    url = reverse("admin:documents_document_changelist")

    response = admin_client.post(
        url, {"action": "delete_selected", "_selected_action": [handbook.pk], "post": "yes"}
    )

    assert response.status_code == 302
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("handbook.md was not deleted" in m for m in shown)
    assert Document.objects.filter(pk=handbook.pk).exists()

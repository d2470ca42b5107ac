from __future__ import annotations

import io

import pytest
from django.test import override_settings

from documents import services as document_services
from documents.models import Document, DocumentStatus

pytestmark = pytest.mark.django_db


def test_home_lists_the_corpora_a_user_may_read_with_readiness(as_reader, corpus, other_corpus):
    document_services.document_upload(
        corpus=corpus, file=io.BytesIO(b"queued text"), filename="queued.txt"
    )
    failed = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(b"broken text"), filename="broken.txt"
    ).document
    Document.objects.filter(pk=failed.pk).update(status=DocumentStatus.FAILED)
    response = as_reader.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Policies" in html
    assert "Travel, cars and the office." in html
    assert "2 documents ready, 1 processing, 1 failed" in html
    assert "/c/policies/" in html
    assert "Secret" not in html
    assert "/c/secret/" not in html


def test_home_tells_someone_without_corpora_what_to_do(as_outsider, corpus):
    html = as_outsider.get("/").content.decode()
    assert "Policies" not in html
    assert "Ask an administrator" in html


def test_superusers_see_every_corpus(corpus, other_corpus, django_user_model):
    from tests.web.conftest import client_for

    admin = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    html = client_for(admin).get("/").content.decode()
    assert "Policies" in html
    assert "Secret" in html


@override_settings(DEBUG=False)
def test_unknown_pages_use_the_site_404(as_reader):
    response = as_reader.get("/no/such/page")
    assert response.status_code == 404
    html = response.content.decode()
    assert "This page isn't here" in html
    assert "docent.css" in html

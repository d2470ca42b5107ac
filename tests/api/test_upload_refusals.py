"""Files no parser reads are refused where documents are created, in each API's own error
shape: REST answers 415 (tests/api/rest/test_documents.py), /v1 a 400 as OpenAI does."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from api.assistants.models import ApiFile
from api.openai_compat.vector_stores import store_file_wire
from documents import services as document_services
from documents.models import Document
from tests.api.conftest import api_client, token_for
from tests.conftest import FIXTURE_DOCS

pytestmark = pytest.mark.django_db

ZIP = (FIXTURE_DOCS / "other" / "simple.zip").read_bytes()


def test_v1_file_upload_refuses_an_unsupported_type_and_keeps_nothing(people, policies):
    client = api_client(token_for(people.contributor))
    response = client.post(
        "/v1/files",
        {"purpose": "assistants", "file": SimpleUploadedFile("bundle.zip", ZIP)},
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "unsupported_file"
    assert error["param"] == "file"
    assert error["message"].startswith("bundle.zip cannot be added: ZIP archives are not supp")
    assert not ApiFile.objects.exists()

    fine = client.post(
        "/v1/files",
        {"purpose": "assistants", "file": SimpleUploadedFile("notes.md", b"# Notes\n\nText.")},
    )
    assert fine.status_code == 200, fine.content


def test_v1_vector_store_refuses_a_stored_file_it_cannot_read(people, policies):
    # Uploaded before uploads were checked: adding it to a vector store is refused the same way.
    client = api_client(token_for(people.contributor))
    api_file = ApiFile(user=people.contributor, filename="old.zip", purpose="assistants")
    api_file.bytes = len(ZIP)
    api_file.file.save("old.zip", io.BytesIO(ZIP), save=False)
    api_file.save()
    before = Document.objects.count()
    response = client.post(
        "/v1/vector_stores/vs_policies/files",
        {"file_id": api_file.public_id},
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "unsupported_file"
    assert Document.objects.count() == before


def test_v1_says_a_file_that_cannot_be_read_is_not_a_server_error(policies):
    path = FIXTURE_DOCS / "pdf-encrypted" / "password.pdf"
    document = document_services.document_upload_path(corpus=policies, path=path).document
    document_services.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    wire = store_file_wire(document, "file-x")
    assert wire["status"] == "failed"
    assert wire["last_error"]["code"] == "invalid_file"
    assert "password" in wire["last_error"]["message"]

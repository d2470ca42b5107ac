"""REST documents (api/rest/documents.py): upload, processing status, listing, deletion."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents import services as document_services
from documents.models import Document
from tests.api.conftest import MEALS
from tests.api.rest.conftest import ask
from tests.conftest import FIXTURE_DOCS

pytestmark = pytest.mark.django_db(transaction=True)

ZIP = (FIXTURE_DOCS / "other" / "simple.zip").read_bytes()

HANDBOOK = """# Equipment

Every new employee receives a laptop and a headset on the first working day.
Lost equipment must be reported to the IT service desk within 24 hours.
"""


def test_upload_several_files_then_poll_until_ready_search_and_ask(client, policies):
    response = client.post(
        "/api/corpora/policies/documents",
        {
            "files": [
                SimpleUploadedFile("equipment.md", HANDBOOK.encode(), "text/markdown"),
                SimpleUploadedFile("meals-copy.md", MEALS.encode(), "text/markdown"),
                SimpleUploadedFile("empty.txt", b"", "text/plain"),
            ]
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (1, 1, 1)
    created, duplicate, rejected = body["results"]
    assert created["result"] == "created"
    assert created["reason"] is None
    assert created["document"]["status"] == "queued"
    assert created["document"]["filename"] == "equipment.md"
    assert created["document"]["content_type"] == "text/markdown"
    assert duplicate["result"] == "duplicate"
    assert "meals.md" in duplicate["reason"]
    assert duplicate["document"]["filename"] == "meals.md"
    assert rejected == {
        "filename": "empty.txt",
        "result": "rejected",
        "reason": "empty.txt is empty (0 bytes); nothing to index.",
        "code": "invalid",
        "document": None,
    }

    document_id = created["document"]["id"]
    statuses = []
    for attempt in range(10):
        status = client.get(f"/api/documents/{document_id}").json()
        statuses.append(status["status"])
        if status["status"] in ("ready", "failed"):
            break
        if attempt == 1:  # Celery is never eager in tests: the "worker" runs now
            document_services.document_ingest(document_id=document_id)
    assert statuses[:2] == ["queued", "queued"]
    assert status["status"] == "ready", status["error"]
    assert status["pages"] == 1
    assert status["chunks"] >= 1
    assert status["progress"] == 1.0
    assert status["error"] == ""
    assert status["finished_at"] is not None

    listing = client.get("/api/corpora/policies/documents", {"limit": 1, "offset": 0}).json()
    assert listing["count"] == 2
    assert [d["filename"] for d in listing["items"]] == ["equipment.md"]
    second = client.get("/api/corpora/policies/documents", {"limit": 1, "offset": 1}).json()
    assert [d["filename"] for d in second["items"]] == ["meals.md"]
    ready = client.get("/api/corpora/policies/documents", {"status": "ready"}).json()
    assert ready["count"] == 2

    search = client.get("/api/corpora/policies/search", {"q": "laptop headset", "k": 3}).json()
    assert search["mode"] == "hybrid"
    assert search["results"][0]["document"] == "equipment.md"
    assert search["results"][0]["document_id"] == document_id
    assert "laptop" in search["results"][0]["text"]
    fulltext = client.get(
        "/api/corpora/policies/search", {"q": "laptop", "mode": "fulltext"}
    ).json()
    assert [hit["document"] for hit in fulltext["results"]] == ["equipment.md"]

    answer = ask(client, "What does a new employee receive on the first day?").json()
    assert answer["status"] == "complete"
    assert "laptop" in answer["answer"]
    assert answer["citations"][0]["document"] == "equipment.md"
    assert answer["citations"][0]["document_id"] == document_id
    assert answer["citations"][0]["page"] == 1
    assert answer["usage"]["total_tokens"] == 0  # extractive: no model, no tokens
    assert answer["usage"]["model"] == "extractive"

    deleted = client.delete(f"/api/documents/{document_id}")
    assert deleted.status_code == 204
    assert not Document.objects.filter(pk=document_id).exists()
    assert client.get(f"/api/documents/{document_id}").status_code == 404


def test_an_unsupported_type_is_a_415_and_nothing_is_stored(client, policies):
    before = Document.objects.count()
    response = client.post(
        "/api/corpora/policies/documents",
        {"files": [SimpleUploadedFile("bundle.zip", ZIP, "application/zip")]},
    )
    assert response.status_code == 415, response.content
    error = response.json()["error"]
    assert error["code"] == "unsupported_file"
    assert error["message"].startswith("bundle.zip cannot be added: ZIP archives are not supp")
    assert "Supported formats: PDF" in error["message"]
    assert error["retryable"] is False
    assert error["results"][0]["code"] == "unsupported_format"
    assert Document.objects.count() == before


def test_a_password_protected_pdf_fails_for_good_and_says_so(client, policies):
    upload = SimpleUploadedFile(
        "locked.pdf", (FIXTURE_DOCS / "pdf-encrypted" / "password.pdf").read_bytes()
    )
    created = client.post("/api/corpora/policies/documents", {"files": [upload]}).json()
    document_id = created["results"][0]["document"]["id"]
    assert created["results"][0]["document"]["retryable"] is True  # queued: nothing failed
    document_services.document_ingest(document_id=document_id)
    status = client.get(f"/api/documents/{document_id}").json()
    assert status["status"] == "failed"
    assert status["failure_code"] == "encrypted"
    assert status["retryable"] is False


def test_a_failed_document_says_why(client, policies):
    upload = SimpleUploadedFile(
        "broken.pdf", b"%PDF-1.7 this is not really a pdf", "application/pdf"
    )
    created = client.post("/api/corpora/policies/documents", {"files": [upload]}).json()
    document_id = created["results"][0]["document"]["id"]
    document_services.document_ingest(document_id=document_id)
    status = client.get(f"/api/documents/{document_id}").json()
    assert status["status"] == "failed"
    assert status["error"]
    assert "Traceback" not in status["error"]


def test_a_multipart_body_without_boundary_is_a_400(client, policies):
    response = client.generic(
        "POST", "/api/corpora/policies/documents", b"--x\r\n", content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_uploading_only_duplicates_is_200(client, policies):
    upload = SimpleUploadedFile("again.md", MEALS.encode())
    response = client.post("/api/corpora/policies/documents", {"files": [upload]})
    assert response.status_code == 200
    assert response.json()["duplicates"] == 1


def test_an_upload_without_files_names_the_field(client, policies):
    response = client.post("/api/corpora/policies/documents", {})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["field"] == "files"
    assert error["retryable"] is False

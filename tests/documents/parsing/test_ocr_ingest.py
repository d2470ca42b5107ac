"""Scanned documents through ingestion (services called directly) and the viewer's OCR mark."""

from __future__ import annotations

import pytest

from documents import services
from documents.models import Document, DocumentStage
from documents.services import ingestion
from tests.conftest import client_for, make_corpus
from tests.documents.parsing.conftest import FIXTURES

pytestmark = pytest.mark.django_db


@pytest.fixture
def scanned(people) -> Document:
    corpus = make_corpus(people)
    outcome = services.document_upload_path(
        corpus=corpus, path=FIXTURES / "pdf-scanned-no-text/ocr_test.pdf"
    )
    services.document_ingest(document_id=outcome.document.pk)
    outcome.document.refresh_from_db()
    return outcome.document


def test_a_scanned_pdf_ends_ready_with_its_ocr_text_on_the_page(scanned: Document) -> None:
    assert scanned.status == "ready", scanned.error
    page = scanned.pages.get(number=1)
    assert page.ocr is True
    assert page.ocr_confidence is not None
    assert page.ocr_confidence > 0.9
    assert "Docling bundles PDF document conversion" in page.text
    assert scanned.chunk_count >= 1
    assert "ocr" in scanned.timings


def test_the_viewer_marks_ocr_text(people, scanned: Document) -> None:
    url = f"/c/{scanned.corpus.slug}/documents/{scanned.pk}/"

    html = client_for(people.reader).get(url, {"page": 1}).content.decode()

    assert "Text read by OCR; may contain errors" in html
    assert client_for(people.outsider).get(url).status_code == 404


def test_ocr_progress_is_recorded_as_its_own_stage(people, monkeypatch) -> None:
    stages: list[str] = []
    renew = ingestion.jobs.Lease.renew

    def spy(self, **updates):
        stages.append(updates.get("stage", ""))
        return renew(self, **updates)

    monkeypatch.setattr(ingestion.jobs.Lease, "renew", spy)
    outcome = services.document_upload_path(
        corpus=make_corpus(people), path=FIXTURES / "pdf-scanned-no-text/ocr_test.pdf"
    )

    services.document_ingest(document_id=outcome.document.pk)

    assert DocumentStage.OCR in stages
    assert DocumentStage.OCR.label == "Reading scanned pages (OCR)"


def test_with_ocr_off_a_scanned_pdf_fails_asking_for_ocr(people, settings) -> None:
    settings.OCR_ENGINE = "none"
    outcome = services.document_upload_path(
        corpus=make_corpus(people), path=FIXTURES / "pdf-scanned-no-text/ocr_test.pdf"
    )

    services.document_ingest(document_id=outcome.document.pk)

    outcome.document.refresh_from_db()
    assert outcome.document.status == "failed"
    assert "Run OCR on it first" in outcome.document.error

"""What an upload refuses at once (documents/services/uploads.py), and which failures a retry
cannot change (Document.retry_helps, services.document_retry)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from documents import services
from documents.models import Document, DocumentStatus
from documents.parsing import ParseErrorCode
from documents.views import FAILURE_SUMMARIES
from tests.documents.conftest import ingest

pytestmark = pytest.mark.django_db


def _stored_files() -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


@pytest.mark.parametrize(
    ("path", "reason", "code"),
    [
        ("other/simple.zip", "ZIP archives are not supported", ParseErrorCode.UNSUPPORTED),
        ("docx-legacy-doc/simple.doc", "Save it as .docx", ParseErrorCode.UNSUPPORTED),
        ("other/simple.odt", "OpenDocument text", ParseErrorCode.UNSUPPORTED),
        ("other/fake-doc.rtf", "Rich Text Format", ParseErrorCode.UNSUPPORTED),
        ("other/simple.json", "JSON files", ParseErrorCode.UNSUPPORTED),
    ],
)
def test_an_unsupported_type_is_refused_at_upload_and_nothing_is_stored(
    corpus, fixture_docs, path, reason, code, django_capture_on_commit_callbacks
):
    source = fixture_docs / path
    services.document_upload(corpus=corpus, file=io.BytesIO(b"# Kept"), filename="kept.md")
    assert len(_stored_files()) == 1
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(services.UploadRefused) as refused,
    ):
        services.document_upload_path(corpus=corpus, path=source)

    message = " ".join(refused.value.messages)
    assert message.startswith(f"{source.name} cannot be added: ")
    assert reason in message
    assert "Supported formats: PDF, Word (.docx)" in message
    assert refused.value.reason == code
    assert isinstance(refused.value, ValidationError)  # every caller already handles these
    assert list(Document.objects.values_list("filename", flat=True)) == ["kept.md"]
    assert callbacks == []
    assert len(_stored_files()) == 1


def test_the_content_decides_not_the_name(corpus, fixture_docs, tmp_path):
    # A ZIP archive renamed .txt is still an archive; a PDF without an extension still a PDF.
    archive = tmp_path / "notes.txt"
    shutil.copy(fixture_docs / "other" / "simple.zip", archive)
    with pytest.raises(services.UploadRefused, match="ZIP archives are not supported"):
        services.document_upload_path(corpus=corpus, path=archive)

    pdf = tmp_path / "scan-without-extension"
    shutil.copy(fixture_docs / "pdf-basic" / "pdflatex-4-pages.pdf", pdf)
    outcome = services.document_upload_path(corpus=corpus, path=pdf)
    assert outcome.created
    assert outcome.document.status == DocumentStatus.QUEUED


def test_a_file_named_as_a_format_it_is_not_is_refused_as_damaged(corpus):
    with pytest.raises(services.UploadRefused) as refused:
        services.document_upload(
            corpus=corpus, file=io.BytesIO(b"plain words, not a package"), filename="report.docx"
        )
    assert refused.value.reason == ParseErrorCode.CORRUPT
    assert "damaged" in " ".join(refused.value.messages)
    assert not Document.objects.exists()


def test_a_large_upload_is_checked_from_its_temporary_file(corpus, fixture_docs, settings):
    # Django writes uploads over FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file.
    from django.core.files.uploadedfile import TemporaryUploadedFile

    upload = TemporaryUploadedFile("bundle.zip", "application/zip", 0, None)
    upload.write((fixture_docs / "other" / "simple.zip").read_bytes())
    upload.flush()
    with pytest.raises(services.UploadRefused, match="ZIP archives"):
        services.document_upload(corpus=corpus, file=upload, filename="bundle.zip")
    upload.close()


def test_a_password_protected_pdf_fails_for_good_and_offers_no_retry(corpus, fixture_docs):
    outcome = services.document_upload_path(
        corpus=corpus, path=fixture_docs / "pdf-encrypted" / "r6-user-password.pdf"
    )
    document = ingest(outcome.document)

    assert document.status == DocumentStatus.FAILED
    assert document.failure_code == ParseErrorCode.ENCRYPTED
    assert not document.retry_helps
    with pytest.raises(ValidationError, match="would fail the same way"):
        services.document_retry(document=document)
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED


def test_a_failure_settings_can_change_keeps_its_retry(
    corpus, fixture_docs, settings, django_capture_on_commit_callbacks
):
    settings.OCR_ENGINE = "none"  # the scan is refused asking for OCR; with OCR on it is read
    outcome = services.document_upload_path(
        corpus=corpus, path=fixture_docs / "pdf-scanned-no-text" / "ocr_test.pdf"
    )
    document = ingest(outcome.document)
    assert document.failure_code == ParseErrorCode.NO_TEXT
    assert document.retry_helps

    with django_capture_on_commit_callbacks() as callbacks:
        document = services.document_retry(document=document)
    assert document.status == DocumentStatus.QUEUED
    assert document.failure_code == ""
    assert len(callbacks) == 1


def test_failures_that_are_not_about_the_file_keep_their_retry(corpus):
    document = services.document_upload(
        corpus=corpus, file=io.BytesIO(b"# Notes\n\nSome text."), filename="notes.md"
    ).document
    services.document_mark_failed(document_id=document.pk, reason="The worker was lost.")
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert document.failure_code == ""
    assert document.retry_helps


def test_every_parse_failure_has_words_for_readers():
    assert set(FAILURE_SUMMARIES) == {code.value for code in ParseErrorCode} | {""}

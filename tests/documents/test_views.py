from __future__ import annotations

import io
import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents import services as document_services
from documents.models import Corpus, Document, DocumentStage, DocumentStatus
from documents.views import highlight
from tests.conftest import (
    FIXTURE_DOCS,
    HOSTILE,
    client_for,
    ingest_text,
    make_corpus,
    make_other_corpus,
)

pytestmark = pytest.mark.django_db

JSON = {"Accept": "application/json"}


# The pages are about who may see what: the shared corpora with people in them, not the empty
# ones of tests/documents/conftest.py.
@pytest.fixture
def corpus(people) -> Corpus:
    return make_corpus(people)


@pytest.fixture
def other_corpus(people) -> Corpus:
    return make_other_corpus(people)


def doc_url(document, action=""):
    return f"/c/policies/documents/{document.pk}/{action}"


# --- the list -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "contributor"])
def test_contributors_see_the_list_with_upload_and_delete(people, corpus, meals, who):
    response = client_for(getattr(people, who)).get("/c/policies/documents/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "meals.md" in html
    assert "cars.md" in html
    assert "Ready: 1 page, 1 passage" in html
    assert 'action="/c/policies/documents/upload"' in html
    assert "Drop files here" in html
    assert f'href="{doc_url(meals)}delete"' in html
    # The row documents.js shows for a file still on its way up, and for one refused.
    row = html.split("<template data-upload-row-template>")[1].split("</template>")[0]
    for text in ("Uploading", "Sending the file…", "Not uploaded", "Dismiss"):
        assert text in row


def test_readers_see_the_list_without_upload_or_delete(as_reader, corpus, meals):
    response = as_reader.get("/c/policies/documents/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "meals.md" in html
    assert "/c/policies/documents/upload" not in html
    assert "data-upload-row-template" not in html
    assert "delete" not in html.lower().replace("deleted", "")


def test_the_list_is_404_for_outsiders(as_outsider, corpus):
    assert as_outsider.get("/c/policies/documents/").status_code == 404


def test_the_list_finds_documents_by_name(as_reader, corpus):
    html = as_reader.get("/c/policies/documents/?q=car").content.decode()
    assert "cars.md" in html
    assert "meals.md" not in html


def test_processing_documents_show_their_stage_and_progress(as_reader, corpus):
    outcome = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(b"some text"), filename="big.txt"
    )
    Document.objects.filter(pk=outcome.document.pk).update(
        status=DocumentStatus.PROCESSING, stage=DocumentStage.EMBEDDING, progress=0.4
    )
    html = as_reader.get("/c/policies/documents/").content.decode()
    assert "Computing embeddings 40%" in html
    assert 'data-final="false"' in html


# --- upload -------------------------------------------------------------------------------------


def upload(client, name="notes.md", content=b"# Notes\n\nThe office opens at eight.\n"):
    return client.post(
        "/c/policies/documents/upload",
        {"file": SimpleUploadedFile(name, content, content_type="application/octet-stream")},
        headers=JSON,
    )


def test_a_contributor_uploads_one_file_and_gets_json(
    as_contributor, corpus, people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(as_contributor)
    assert response.status_code == 201
    data = response.json()
    document = Document.objects.get(pk=data["id"])
    assert document.uploaded_by == people.contributor
    assert document.content_type == "text/markdown"
    assert data["status"] == "queued"
    assert data["duplicate"] is False
    assert data["status_url"] == doc_url(document, "status")
    assert 'id="document-' in data["row_html"]
    assert len(callbacks) == 1  # ingestion is queued


def test_uploading_the_same_content_again_says_it_is_a_duplicate(as_contributor, corpus):
    first = upload(as_contributor).json()
    response = upload(as_contributor, name="copy.md")
    assert response.status_code == 200
    data = response.json()
    assert data["duplicate"] is True
    assert data["id"] == first["id"]
    assert "already in this corpus as notes.md" in data["message"]


def test_an_empty_file_is_refused_with_a_plain_sentence(as_contributor, corpus):
    response = upload(as_contributor, name="empty.md", content=b"")
    assert response.status_code == 400
    assert response.json()["error"] == "empty.md is empty (0 bytes); nothing to index."


def test_upload_needs_exactly_one_file(as_contributor, corpus):
    response = as_contributor.post("/c/policies/documents/upload", {}, headers=JSON)
    assert response.status_code == 400


def _flash(response) -> list[tuple[str, str]]:
    from django.contrib.messages import get_messages

    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_the_plain_form_uploads_several_files_with_one_summary_message(as_contributor, corpus):
    files = [
        SimpleUploadedFile("a.md", b"# A\n\nAlpha text here.\n"),
        SimpleUploadedFile("b.md", b"# B\n\nBeta text here.\n"),
        SimpleUploadedFile("c.md", b"# C\n\nGamma text here.\n"),
    ]
    response = as_contributor.post("/c/policies/documents/upload", {"file": files})
    assert response.status_code == 302
    assert response["Location"] == "/c/policies/documents/"
    assert _flash(response) == [
        ("success", "3 files uploaded, queued for processing: a.md, b.md, c.md.")
    ]
    assert Document.objects.filter(filename__in=["a.md", "b.md", "c.md"]).count() == 3


def test_a_mixed_plain_form_upload_says_what_happened_to_each_file_in_one_message(
    as_contributor, corpus
):
    archive = (FIXTURE_DOCS / "other" / "simple.zip").read_bytes()
    files = [
        SimpleUploadedFile("a.md", b"# A\n\nAlpha text here.\n"),
        SimpleUploadedFile("b.md", b"# B\n\nBeta text here.\n"),
        SimpleUploadedFile("copy of a.md", b"# A\n\nAlpha text here.\n"),
        SimpleUploadedFile("x.zip", archive, content_type="application/zip"),
    ]
    response = as_contributor.post("/c/policies/documents/upload", {"file": files}, follow=True)

    html = response.content.decode()
    assert html.count('class="flash ') == 1
    message = html.split('class="flash ')[1].split("</p>")[0]
    assert message.startswith("flash-warning")
    assert "2 files uploaded, queued for processing: a.md, b.md." in message
    assert "1 already in this corpus, not added again: copy of a.md (as a.md)." in message
    assert "1 refused: x.zip cannot be added: ZIP archives are not supported." in message
    assert not Document.objects.filter(filename="x.zip").exists()


def test_a_plain_form_upload_of_refused_files_only_is_an_error(as_contributor, corpus):
    files = [SimpleUploadedFile("empty.md", b""), SimpleUploadedFile("none.txt", b"")]
    response = as_contributor.post("/c/policies/documents/upload", {"file": files})
    assert _flash(response) == [
        (
            "error",
            "2 refused: empty.md is empty (0 bytes); nothing to index. "
            "none.txt is empty (0 bytes); nothing to index.",
        )
    ]


def test_readers_may_not_upload_and_outsiders_get_404(as_reader, as_outsider, corpus):
    response = upload(as_reader)
    assert response.status_code == 403
    assert "Only contributors" in response.content.decode()
    assert upload(as_outsider).status_code == 404
    assert not Document.objects.filter(filename="notes.md").exists()


# --- status -------------------------------------------------------------------------------------


def test_status_reports_stage_progress_and_the_final_row(as_reader, corpus, meals):
    outcome = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(b"some text"), filename="big.txt"
    )
    Document.objects.filter(pk=outcome.document.pk).update(
        status=DocumentStatus.PROCESSING, stage=DocumentStage.EMBEDDING, progress=0.4
    )
    data = as_reader.get(doc_url(outcome.document, "status")).json()
    assert data["status"] == "processing"
    assert data["stage_label"] == "Computing embeddings"
    assert data["progress"] == 40
    assert data["summary"] == "Computing embeddings 40%"
    assert data["final"] is False
    data = as_reader.get(doc_url(meals, "status")).json()
    assert data["final"] is True
    assert data["page_count"] == 1
    assert data["summary"] == "Ready: 1 page, 1 passage"
    assert "Delete" not in data["row_html"]  # a reader's row


def test_status_of_a_failed_document_carries_the_reason(as_contributor, corpus):
    document = ingest_failed(corpus)
    data = as_contributor.get(doc_url(document, "status")).json()
    assert data["status"] == "failed"
    assert "password" in data["error"].lower()
    # A password-protected file fails the same way every time: no Retry, and the row says why.
    assert data["retry_helps"] is False
    assert "data-retry" not in data["row_html"]
    assert "Trying again would fail the same way" in data["row_html"]


def test_readers_see_what_failed_not_what_to_do_about_it(as_reader, as_contributor, corpus):
    document = ingest_failed(corpus)
    data = as_reader.get(doc_url(document, "status")).json()
    assert data["error"] == "The file is password-protected, so it could not be read."
    assert "Remove" not in data["row_html"]
    assert "The file is password-protected" in data["row_html"]
    page = as_reader.get(f"/c/{corpus.slug}/documents/").content.decode()
    assert "password-protected, so it could not be read" in page
    assert document.error not in page
    viewer = as_reader.get(doc_url(document)).content.decode()
    assert document.error not in viewer
    assert document.error in as_contributor.get(doc_url(document)).content.decode()


def test_retrying_a_failure_that_cannot_change_is_refused(as_contributor, corpus):
    document = ingest_failed(corpus)
    response = as_contributor.post(doc_url(document, "retry"), headers=JSON)
    assert response.status_code == 400
    assert "would fail the same way" in response.json()["error"]
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED


def test_status_is_404_for_outsiders_and_other_corpora(as_outsider, as_reader, meals, other_corpus):
    assert as_outsider.get(doc_url(meals, "status")).status_code == 404
    assert as_reader.get(f"/c/secret/documents/{meals.pk}/status").status_code == 404
    assert as_outsider.get(f"/c/secret/documents/{meals.pk}/status").status_code == 404


def ingest_failed(corpus, name: str = "pdf-encrypted/password.pdf") -> Document:
    """A password-protected PDF fails when it is read; another file is only uploaded."""
    outcome = document_services.document_upload_path(corpus=corpus, path=FIXTURE_DOCS / name)
    if name.startswith("pdf-encrypted/"):
        document_services.document_ingest(document_id=outcome.document.pk)
        outcome.document.refresh_from_db()
        assert outcome.document.status == "failed"
    return outcome.document


# --- retry and delete ---------------------------------------------------------------------------


def test_a_contributor_retries_a_failed_document(
    as_contributor, as_reader, corpus, django_capture_on_commit_callbacks
):
    document = ingest_failed(corpus, "pdf-basic/pdflatex-4-pages.pdf")
    document_services.document_mark_failed(document_id=document.pk, reason="The worker died.")
    assert as_reader.post(doc_url(document, "retry")).status_code == 403
    with django_capture_on_commit_callbacks() as callbacks:
        response = as_contributor.post(doc_url(document, "retry"), headers=JSON)
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert len(callbacks) == 1
    document.refresh_from_db()
    assert document.status == DocumentStatus.QUEUED


def test_a_contributor_deletes_a_document_after_confirming(as_contributor, meals):
    response = as_contributor.get(doc_url(meals, "delete"))
    assert response.status_code == 200
    assert "Delete meals.md?" in response.content.decode()
    response = as_contributor.post(doc_url(meals, "delete"))
    assert response.status_code == 302
    assert response["Location"] == "/c/policies/documents/"
    assert not Document.objects.filter(pk=meals.pk).exists()


def test_readers_may_not_delete_and_outsiders_get_404(as_reader, as_outsider, meals):
    assert as_reader.get(doc_url(meals, "delete")).status_code == 403
    assert as_reader.post(doc_url(meals, "delete")).status_code == 403
    assert as_outsider.post(doc_url(meals, "delete")).status_code == 404
    assert as_outsider.post(doc_url(meals, "retry")).status_code == 404
    assert Document.objects.filter(pk=meals.pk).exists()


# --- the viewer ---------------------------------------------------------------------------------


def test_the_viewer_highlights_the_cited_passage(as_reader, meals):
    page = meals.pages.get(number=1)
    start = page.char_start + page.text.index("45 euros")
    response = as_reader.get(doc_url(meals), {"page": 1, "start": start, "end": start + 8})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<mark id="passage" tabindex="-1">45 euros</mark>' in html
    assert "page 1 of 1" in html
    assert f'href="{doc_url(meals)}download"' in html
    assert "Download original" in html


@pytest.mark.parametrize("who", ["owner", "contributor", "reader"])
def test_members_can_read_documents(people, meals, who):
    assert client_for(getattr(people, who)).get(doc_url(meals)).status_code == 200


def test_the_viewer_is_404_for_outsiders_and_unknown_documents(as_outsider, as_reader, meals):
    assert as_outsider.get(doc_url(meals)).status_code == 404
    assert as_reader.get("/c/policies/documents/999999/").status_code == 404


def test_the_viewer_survives_odd_parameters(as_reader, meals):
    for params in ({"page": "x"}, {"page": "99"}, {"start": "-1", "end": "abc"}, {"page": "0"}):
        response = as_reader.get(doc_url(meals), params)
        assert response.status_code == 200
    assert "has no page 99" in as_reader.get(doc_url(meals), {"page": 99}).content.decode()


def test_highlight_is_the_intersection_with_the_page():
    class FakePage:
        text = "abcdefghij"
        char_start = 100
        char_end = 110

    page = FakePage()
    whole = highlight(page, 102, 105)
    assert (whole.before, whole.passage, whole.after) == ("ab", "cde", "fghij")
    assert (whole.continues_before, whole.continues_after) == (False, False)
    starts_earlier = highlight(page, 90, 103)
    assert starts_earlier.passage == "abc"
    assert starts_earlier.continues_before
    goes_on = highlight(page, 108, 130)
    assert goes_on.passage == "ij"
    assert goes_on.continues_after
    assert highlight(page, 10, 20) is None
    assert highlight(page, 105, 105) is None
    assert highlight(page, None, 105) is None


def test_the_viewer_moves_between_pages_and_offers_a_page_list(as_reader, pdf):
    page = pdf.pages.get(number=2)
    params = {"page": 2, "start": page.char_start, "end": page.char_start + 5}
    html = as_reader.get(doc_url(pdf), params).content.decode()
    assert "page 2 of 4" in html
    passage = f"start={params['start']}&amp;end={params['end']}"
    assert f'href="{doc_url(pdf)}?page=1&amp;{passage}" rel="prev"' in html
    assert f'href="{doc_url(pdf)}?page=3&amp;{passage}" rel="next"' in html
    assert '<label for="page-jump">Go to</label>' in html
    assert '<option value="2" selected>Page 2</option>' in html
    assert html.count("<option ") == 4
    assert '<mark id="passage"' in html


def test_document_text_cannot_inject_markup_in_the_viewer(as_reader, corpus):
    document = ingest_text(corpus, "hostile.md", HOSTILE)
    page = document.pages.get(number=1)
    start = page.char_start + page.text.index("<script>")
    html = as_reader.get(doc_url(document), {"page": 1, "start": start, "end": start + 30}).content
    html = html.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_document_text_in_quotes_cannot_inject_markup(as_reader, corpus, people):
    from chat import services

    ingest_text(corpus, "hostile.md", HOSTILE)
    conversation = services.conversation_start(corpus=corpus, user=people.reader)
    answer = services.message_ask_collect(
        conversation=conversation, question="When does the cafeteria close on Friday?"
    )
    assert any("cafeteria" in c["quote"] for c in answer.citations), answer.citations
    html = as_reader.get(f"/c/policies/conversations/{conversation.pk}/").content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html


# --- download and page images -------------------------------------------------------------------


def test_download_is_an_attachment_for_every_member(people, meals):
    for who in ("owner", "contributor", "reader"):
        response = client_for(getattr(people, who)).get(doc_url(meals, "download"))
        assert response.status_code == 200
        assert response["Content-Disposition"] == 'attachment; filename="meals.md"'
        assert b"45 euros" in b"".join(response.streaming_content)


def test_download_is_404_for_outsiders_and_without_an_original(as_outsider, as_reader, meals):
    assert as_outsider.get(doc_url(meals, "download")).status_code == 404
    meals.file.delete(save=True)
    assert as_reader.get(doc_url(meals, "download")).status_code == 404


@pytest.fixture
def pdf(corpus, tmp_path) -> Document:
    source = FIXTURE_DOCS / "pdf-basic" / "pdflatex-4-pages.pdf"
    path = tmp_path / "report.pdf"
    shutil.copy(source, path)
    outcome = document_services.document_upload_path(corpus=corpus, path=path)
    document_services.document_ingest(document_id=outcome.document.pk)
    outcome.document.refresh_from_db()
    assert outcome.document.status == "ready", outcome.document.error
    return outcome.document


def test_pdf_pages_render_as_images(as_reader, as_outsider, pdf):
    html = as_reader.get(doc_url(pdf), {"page": 2}).content.decode()
    assert f'src="{doc_url(pdf)}pages/2.png"' in html
    response = as_reader.get(doc_url(pdf, "pages/2.png"))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "private" in response["Cache-Control"]
    assert "max-age=3600" in response["Cache-Control"]
    assert response.content.startswith(b"\x89PNG")
    assert as_reader.get(doc_url(pdf, "pages/99.png")).status_code == 404
    assert as_outsider.get(doc_url(pdf, "pages/2.png")).status_code == 404


def test_non_pdf_documents_have_no_page_image(as_reader, meals):
    assert "pages/1.png" not in as_reader.get(doc_url(meals)).content.decode()
    assert as_reader.get(doc_url(meals, "pages/1.png")).status_code == 404

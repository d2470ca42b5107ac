"""The Django admin of corpora and documents, driven as a superuser would (the answering side of
corpora and conversations: tests/chat/test_admin.py)."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from django.contrib.auth.models import Group
from django.db.models import Model
from django.urls import reverse

from documents import services
from documents.models import Corpus, CorpusMembership, CorpusReindex, Document, Page
from documents.services import reindexing
from tests.documents.conftest import HANDBOOK, ingest, upload_text
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def openai_corpus(settings, fake_openai) -> Corpus:
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "test"
    settings.OPENAI_MAX_RETRIES = 0
    return services.corpus_create(name="Remote", slug="remote", index_backend="openai")


def form_data(response: Any) -> dict[str, Any]:
    """What the browser would post back for an admin change form, unchanged."""

    def value(raw: Any) -> Any:
        if isinstance(raw, Model):
            return raw.pk
        return "" if raw is None else raw

    form = response.context["adminform"].form
    data = {
        name: value(form.initial.get(name, field.initial)) for name, field in form.fields.items()
    }
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[f"{formset.prefix}-{name}"] = management.initial.get(name, 0)
        for member in formset.initial_forms:
            for name in member.fields:
                data[member.add_prefix(name)] = value(member.initial.get(name))
    return data


def change_url(obj: Model) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


# --- pages load ---------------------------------------------------------------------------------


def test_admin_pages_load_for_a_superuser(admin_client, ready_document):
    corpus = ready_document.corpus
    urls = [
        reverse("admin:index"),
        reverse("admin:documents_corpus_changelist"),
        reverse("admin:documents_corpus_add"),
        change_url(corpus),
        reverse("admin:documents_corpus_delete", args=[corpus.pk]),
        reverse("admin:documents_corpus_adopt"),
        reverse("admin:documents_document_changelist"),
        reverse("admin:documents_document_changelist") + f"?corpus__id__exact={corpus.pk}",
        change_url(ready_document),
        reverse("admin:documents_document_delete", args=[ready_document.pk]),
        reverse("admin:documents_document_upload"),
        reverse("admin:documents_page_changelist") + f"?document__id__exact={ready_document.pk}",
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url


def test_corpus_list_and_page_show_documents_by_status_and_the_index(admin_client, ready_document):
    corpus = ready_document.corpus
    Document.objects.create(
        corpus=corpus, filename="bad.pdf", size_bytes=1, sha256="b" * 64, status="failed"
    )
    response = admin_client.get(reverse("admin:documents_corpus_changelist"))
    assert b"1 ready" in response.content
    assert b"1 failed" in response.content
    assert b"version 1" in response.content
    response = admin_client.get(change_url(corpus))
    assert b"1 ready" in response.content
    assert b"Not running." in response.content


def test_deleting_a_corpus_confirms_with_counts_and_goes_through_the_service(
    admin_client, ready_document, monkeypatch
):
    corpus = ready_document.corpus
    url = reverse("admin:documents_corpus_delete", args=[corpus.pk])
    response = admin_client.get(url)
    assert b"Passages: 1" in response.content or b"passages: 1" in response.content
    deleted = []
    real = services.corpus_delete
    monkeypatch.setattr(
        services,
        "corpus_delete",
        lambda *, corpus: deleted.append(corpus.pk) or real(corpus=corpus),
    )
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert deleted == [corpus.pk]
    assert not Corpus.objects.exists()


# --- corpora: the form --------------------------------------------------------------------------


def test_adding_a_corpus_goes_through_the_service(admin_client, admin_user):
    response = admin_client.get(reverse("admin:documents_corpus_add"))
    data = form_data(response)
    data.update(name="Policies", slug="policies", index_backend="pgvector")
    response = admin_client.post(reverse("admin:documents_corpus_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    corpus = Corpus.objects.get(slug="policies")
    assert (corpus.created_by, corpus.embedding_model) == (admin_user, "all-MiniLM-L6-v2")


def test_membership_inline_saves_users_and_groups(admin_client, corpus):
    reader = UserFactory(username="rita")
    group = Group.objects.create(name="Support")
    data = form_data(admin_client.get(change_url(corpus)))
    data.update(
        {
            "memberships-TOTAL_FORMS": 2,
            "memberships-0-user": reader.pk,
            "memberships-0-role": "reader",
            "memberships-1-group": group.pk,
            "memberships-1-role": "contributor",
        }
    )
    response = admin_client.post(change_url(corpus), data)
    assert response.status_code == 302
    saved = set(CorpusMembership.objects.values_list("user__username", "group__name", "role"))
    assert saved == {("rita", None, "reader"), (None, "Support", "contributor")}
    assert Corpus.objects.for_user(reader).filter(pk=corpus.pk).exists()


def test_a_membership_names_a_user_or_a_group_not_both(admin_client, corpus):
    data = form_data(admin_client.get(change_url(corpus)))
    data.update(
        {
            "memberships-TOTAL_FORMS": 1,
            "memberships-0-user": UserFactory().pk,
            "memberships-0-group": Group.objects.create(name="Support").pk,
            "memberships-0-role": "reader",
        }
    )
    response = admin_client.post(change_url(corpus), data)
    assert response.status_code == 200
    assert b"Choose either a user or a group." in response.content
    assert not CorpusMembership.objects.exists()


# --- corpora: re-indexing -----------------------------------------------------------------------


def test_changing_chunk_settings_starts_a_reindex_instead_of_editing_them(
    admin_client, admin_user, ready_document, django_capture_on_commit_callbacks
):
    corpus = ready_document.corpus
    data = form_data(admin_client.get(change_url(corpus)))
    data.update(chunk_size_tokens=64, chunk_overlap_tokens=8, description="HR policies")
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(change_url(corpus), data, follow=True)
    assert response.status_code == 200
    assert len(callbacks) == 1  # the re-index task
    corpus.refresh_from_db()
    assert corpus.description == "HR policies"
    assert (corpus.chunk_size_tokens, corpus.chunk_overlap_tokens) == (200, 30)
    reindex = CorpusReindex.objects.get(corpus=corpus)
    assert (reindex.chunk_size_tokens, reindex.chunk_overlap_tokens) == (64, 8)
    assert (reindex.status, reindex.created_by) == ("queued", admin_user)
    assert b"Re-indexing \xe2\x80\x9cHandbook\xe2\x80\x9d in the background" in response.content

    # While it runs the page shows the progress and refreshes itself.
    page = admin_client.get(change_url(corpus)).content.decode()
    assert 'http-equiv="refresh"' in page
    assert "Queued (all-MiniLM-L6-v2, 64 tokens per chunk, 8 overlap, version 2)" in page
    listing = admin_client.get(reverse("admin:documents_corpus_changelist")).content.decode()
    assert "re-indexing to version 2: queued" in listing

    reindexing.corpus_reindex_run(reindex_id=reindex.pk)
    page = admin_client.get(change_url(corpus)).content.decode()
    assert 'http-equiv="refresh"' not in page
    assert "Done: 1 of 1 documents" in page  # the history
    corpus.refresh_from_db()
    assert (corpus.chunk_size_tokens, corpus.index_version) == (64, 2)


def test_index_settings_cannot_change_while_a_reindex_runs(admin_client, ready_document):
    corpus = ready_document.corpus
    reindexing.corpus_reindex_start(
        corpus=corpus,
        embedding_model=corpus.embedding_model,
        chunk_size_tokens=64,
        chunk_overlap_tokens=8,
        started_by=None,
    )
    data = form_data(admin_client.get(change_url(corpus)))
    data.update(chunk_size_tokens=100)
    response = admin_client.post(change_url(corpus), data)
    assert response.status_code == 200
    assert "A re-index is queued" in str(response.context["adminform"].form.errors)
    assert CorpusReindex.objects.count() == 1


def test_invalid_chunk_settings_are_refused_in_the_form(admin_client, corpus):
    data = form_data(admin_client.get(change_url(corpus)))
    data.update(chunk_size_tokens=10)
    response = admin_client.post(change_url(corpus), data)
    assert response.status_code == 200
    assert "Chunk size must be between 32" in str(response.context["adminform"].form.errors)
    assert not CorpusReindex.objects.exists()


def test_openai_corpora_show_index_settings_read_only(admin_client, openai_corpus):
    response = admin_client.get(change_url(openai_corpus))
    page = response.content.decode()
    assert "OpenAI splits and embeds the documents of this corpus itself" in page
    assert 'name="chunk_size_tokens"' not in page
    assert 'name="embedding_model"' not in page
    assert "Re-index history" not in page
    data = form_data(response)
    data.update(chunk_size_tokens=64)
    assert admin_client.post(change_url(openai_corpus), data).status_code == 302
    assert Corpus.objects.get(pk=openai_corpus.pk).chunk_size_tokens == 200
    assert not CorpusReindex.objects.exists()


# --- corpora: adoption --------------------------------------------------------------------------


def test_adopting_a_vector_store(admin_client, openai_corpus, fake_openai):
    sdk = openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)
    fake_openai.processing_polls = 0
    fake_openai.fail_file_processing("broken.txt", code="invalid_file")
    ids = [
        sdk.files.create(file=(name, data), purpose="assistants").id
        for name, data in {"handbook.md": HANDBOOK.encode(), "broken.txt": b"\x00"}.items()
    ]
    store_id = sdk.vector_stores.create(name="Support", file_ids=ids).id
    url = reverse("admin:documents_corpus_adopt")

    response = admin_client.post(
        url, {"vector_store_id": store_id, "name": "Support desk", "slug": ""}, follow=True
    )

    adopted = Corpus.objects.get(vector_store_id=store_id)
    assert response.redirect_chain[-1][0] == change_url(adopted)
    shown = [str(message) for message in response.context["messages"]]
    assert (
        f"Adopted vector store {store_id} as “Support desk”: imported 1 documents, skipped 1."
        in (shown)
    )
    assert any(message.startswith("Skipped broken.txt: OpenAI could not") for message in shown)
    assert (
        adopted.remote_usage_bytes
        == fake_openai.state.vector_stores[store_id].to_wire()["usage_bytes"]
    )

    response = admin_client.post(url, {"vector_store_id": "vs_missing", "name": "Nope"})
    assert response.status_code == 200
    assert "no vector store vs_missing" in str(response.context["form"].errors)


# --- documents ----------------------------------------------------------------------------------


def test_document_actions_call_the_services(admin_client, ready_document, monkeypatch):
    failed = Document.objects.create(
        corpus=ready_document.corpus,
        filename="scan.pdf",
        size_bytes=1,
        sha256="f" * 64,
        status="failed",
        error="No text.",
    )
    calls: list[tuple[str, int]] = []
    for name in ("document_reingest", "document_delete"):
        real = getattr(services, name)

        def record(*, document, _name=name, _real=real):
            calls.append((_name, document.pk))
            return _real(document=document)

        monkeypatch.setattr(services, name, record)
    url = reverse("admin:documents_document_changelist")
    both = [ready_document.pk, failed.pk]

    admin_client.post(url, {"action": "retry_failed", "_selected_action": both})
    assert calls == [("document_reingest", failed.pk)]
    assert Document.objects.get(pk=failed.pk).status == "queued"

    calls.clear()
    response = admin_client.post(url, {"action": "reingest", "_selected_action": both}, follow=True)
    assert sorted(calls) == sorted(("document_reingest", pk) for pk in both)
    assert "Queued 2 documents again." in [str(m) for m in response.context["messages"]]

    calls.clear()
    admin_client.post(url, {"action": "delete_selected", "_selected_action": both, "post": "yes"})
    assert sorted(calls) == sorted(("document_delete", pk) for pk in both)
    assert not Document.objects.exists()


def test_document_page_says_when_there_is_no_original(admin_client, corpus):
    document = Document.objects.create(
        corpus=corpus,
        filename="adopted.pdf",
        size_bytes=10,
        sha256="a" * 64,
        status="ready",
        warning=services.NO_ORIGINAL_WARNING,
    )
    page = admin_client.get(change_url(document)).content.decode()
    assert "No original (adopted from OpenAI" in page
    assert "The original could not be downloaded from OpenAI" in page
    assert "No page map" in page


def test_a_long_page_map_is_browsed_page_by_page(admin_client, corpus):
    document = Document.objects.create(
        corpus=corpus, filename="long.pdf", size_bytes=10, sha256="c" * 64, status="ready"
    )
    Page.objects.bulk_create(
        Page(document=document, number=n, text=f"Text of page {n}.", char_start=n * 20)
        for n in range(1, 121)
    )
    page = admin_client.get(change_url(document)).content.decode()
    assert "All 120 pages" in page
    assert "Text of page 7." not in page  # no inline of 120 pages

    listing = reverse("admin:documents_page_changelist") + f"?document__id__exact={document.pk}"
    first = admin_client.get(listing)
    assert first.status_code == 200
    assert len(first.context["cl"].result_list) == 50
    assert b"Text of page 1." in first.content
    third = admin_client.get(listing + "&p=3").content.decode()
    assert "Text of page 120." in third

    short = Document.objects.create(
        corpus=corpus, filename="short.pdf", size_bytes=10, sha256="d" * 64, status="ready"
    )
    Page.objects.create(document=short, number=1, text="Only page.", char_start=0)
    assert b"Only page." in admin_client.get(change_url(short)).content


def test_the_upload_page_lists_and_accepts_what_the_registered_parsers_read(admin_client):
    from documents.parsing import supported_formats_text, upload_accept

    page = admin_client.get(reverse("admin:documents_document_upload")).content.decode()

    assert f'accept="{upload_accept()}"' in page
    assert f"{supported_formats_text()}." in page


# --- the document list while files are processed -------------------------------------------------


def test_a_multi_file_upload_gives_one_summary_message(admin_client, corpus, settings):
    from django.contrib.messages import get_messages
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.DOCUMENT_MAX_UPLOAD_BYTES = 1024 * 1024
    upload_text(corpus, "Already here.\n", filename="old.txt")
    files = [
        SimpleUploadedFile("Travel Policy 2024.md", HANDBOOK.encode(), "text/markdown"),
        SimpleUploadedFile("faq.md", b"# FAQ\n\nAsk the travel desk.\n", "text/markdown"),
        SimpleUploadedFile("again.txt", b"Already here.\n", "text/plain"),
        SimpleUploadedFile("big.txt", b"x" * (1024 * 1024 + 1), "text/plain"),
    ]
    response = admin_client.post(
        reverse("admin:documents_document_upload"), {"corpus": corpus.pk, "uploads": files}
    )

    assert response.status_code == 302
    said = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert said == [
        (
            "warning",
            "2 files uploaded, queued for processing: Travel Policy 2024.md, faq.md. "
            "1 already in Handbook, not added again: again.txt (as old.txt, queued). "
            "1 refused: big.txt is larger than the 1 MB limit.",
        )
    ]


def test_the_list_refreshes_its_rows_in_place_instead_of_reloading(admin_client, corpus):
    queued = [upload_text(corpus, f"Text number {n}.\n", filename=f"q{n}.txt") for n in range(3)]
    page = admin_client.get(reverse("admin:documents_document_changelist")).content.decode()
    assert 'http-equiv="refresh"' not in page
    status_url = reverse("admin:documents_document_status")
    assert f'data-document-status-url="{status_url}"' in page
    assert "js/admin-documents.js" in page
    assert "style=" not in page.split('id="result_list"')[1].split("</table>")[0]
    # Queued documents say where they stand in the queue (oldest first).
    assert "Queued: next" in page
    assert "Queued: 3rd in line" in page

    ingest(queued[0])
    ids = ",".join(str(d.pk) for d in queued)
    rows = {row["id"]: row for row in admin_client.get(f"{status_url}?ids={ids}").json()["rows"]}
    assert rows[queued[0].pk]["final"] is True
    assert "doc-badge-ready" in rows[queued[0].pk]["cells"]["status_badge"]
    assert rows[queued[0].pk]["cells"]["page_count"] == "1"
    assert rows[queued[1].pk]["final"] is False
    assert "Queued: next" in rows[queued[1].pk]["cells"]["status_badge"]
    assert "Queued: 2nd in line" in rows[queued[2].pk]["cells"]["status_badge"]


def test_embedding_shows_its_percentage_from_the_start(admin_client, corpus):
    document = upload_text(corpus, "Some text.\n")
    Document.objects.filter(pk=document.pk).update(
        status="processing", stage="embedding", progress=0.0
    )
    status_url = reverse("admin:documents_document_status")
    row = admin_client.get(f"{status_url}?ids={document.pk}").json()["rows"][0]
    assert "Processing: Computing embeddings 0%" in row["cells"]["status_badge"]
    Document.objects.filter(pk=document.pk).update(stage="parsing", progress=0.0)
    row = admin_client.get(f"{status_url}?ids={document.pk}").json()["rows"][0]
    assert "Processing: Extracting text<" in row["cells"]["status_badge"]


def test_the_status_view_needs_the_admin(client, corpus):
    document = upload_text(corpus, "Some text.\n")
    response = client.get(f"{reverse('admin:documents_document_status')}?ids={document.pk}")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_type_filter_names_the_types_people_know(admin_client, corpus):
    ingest(upload_text(corpus, HANDBOOK, filename="handbook.md"))
    upload_text(corpus, "Plain words.\n", filename="notes.txt")
    url = reverse("admin:documents_document_changelist")
    page = admin_client.get(url).content.decode()
    filters = page.split('id="changelist-filter"')[1]
    assert "?type=markdown" in filters
    assert ">Markdown</a>" in filters
    assert ">Plain text</a>" in filters
    assert "text/markdown" not in filters
    filtered = admin_client.get(url, {"type": "markdown"}).content.decode()
    assert "handbook.md" in filtered
    assert "notes.txt" not in filtered

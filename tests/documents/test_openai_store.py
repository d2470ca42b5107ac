from __future__ import annotations

import hashlib
import io

import openai
import pytest
from django.core.exceptions import ValidationError

from documents import services
from documents.backends import openai_store
from documents.backends.base import IndexingError, get_backend
from documents.backends.openai_store import OpenAIVectorStoreBackend
from documents.models import Corpus, Document, DocumentStatus, Page
from tests.documents.conftest import HANDBOOK, ingest, upload_text
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db

UPLOADS = r"^/v1/files$"
ATTACH = r"^/v1/vector_stores/[^/]+/files$"
STORE_FILE = r"^/v1/vector_stores/[^/]+/files/[^/]+$"

# Three pages of distinct text, each longer than one of OpenAI's default chunks (800 tokens,
# about 615 words), so that some File Search passages lie within a single page.
TOPICS = ("turbine", "glacier", "orchard")


@pytest.fixture
def server(fake_openai: FakeOpenAIServer, settings) -> FakeOpenAIServer:
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "test"
    # The SDK's own retries would hide the errors these tests are about.
    settings.OPENAI_MAX_RETRIES = 0
    return fake_openai


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits between polls, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(openai_store, "_sleep", recorded.append)
    return recorded


@pytest.fixture
def corpus(server: FakeOpenAIServer) -> Corpus:
    return services.corpus_create(name="Handbook", slug="handbook", index_backend="openai")


@pytest.fixture
def sdk(server: FakeOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)


def topic_pages_pdf() -> bytes:
    pages = []
    for topic in TOPICS:
        sentences = [
            f"The {topic} ledger entry {n} records inventory item {n} of the {topic} section."
            for n in range(70)
        ]
        pages.append(" ".join(sentences).split())
    return _pdf(pages)


def _pdf(pages: list[list[str]]) -> bytes:
    """A PDF with one page per word list, eight words a line, Helvetica."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, once the pages are numbered
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for words in pages:
        lines = [" ".join(words[i : i + 8]) for i in range(0, len(words), 8)]
        shown = b" T* ".join(b"(%s) Tj" % line.encode() for line in lines)
        stream = b"BT /F1 7 Tf 9 TL 30 980 Td " + shown + b" ET"
        kids.append(len(objects) + 1)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 1000] /Contents %d 0 R"
            b" /Resources << /Font << /F1 3 0 R >> >> >>" % (len(objects) + 2)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def upload_bytes(corpus: Corpus, data: bytes, filename: str) -> Document:
    return services.document_upload(
        corpus=corpus, file=io.BytesIO(data), filename=filename
    ).document


# --- ingestion ------------------------------------------------------------------------------------


def test_ingest_uploads_attaches_and_marks_the_document_ready(server, corpus, sleeps):
    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "ready", document.error
    corpus.refresh_from_db()
    assert corpus.vector_store_id.startswith("vs_")
    assert document.remote_file_id.startswith("file-")
    assert (document.page_count, document.chunk_count, document.embedding_tokens) == (1, 0, 0)
    assert Page.objects.get(document=document).text.startswith("# Travel policy")
    assert {"uploading", "remote_processing"} <= set(document.timings)

    store = server.state.vector_stores[corpus.vector_store_id]
    assert store.name == "Docent: Handbook"
    assert store.metadata == {"docent_corpus_id": str(corpus.pk)}
    remote = store.files[document.remote_file_id]
    assert remote.status == "completed"
    assert remote.attributes == {
        "docent_document_id": str(document.pk),
        "docent_corpus_id": str(corpus.pk),
        "filename": "handbook.md",
    }
    (upload,) = server.requests_to("POST", UPLOADS)
    assert upload.body == {"purpose": "assistants"}
    assert upload.uploads["file"].filename == "handbook.md"
    assert upload.uploads["file"].data == HANDBOOK.encode()


def test_corpus_store_is_created_once_for_several_documents(server, corpus, sleeps):
    documents = [
        ingest(upload_text(corpus, f"Note {n}: the office opens at {n} o'clock.", f"n{n}.txt"))
        for n in range(3)
    ]

    assert [d.status for d in documents] == ["ready"] * 3
    assert len(server.requests_to("POST", r"^/v1/vector_stores$")) == 1
    (store,) = server.state.vector_stores.values()
    assert set(store.files) == {d.remote_file_id for d in documents}


def test_store_created_concurrently_by_another_worker_is_used_and_ours_dropped(
    server, corpus, sdk, monkeypatch
):
    backend = OpenAIVectorStoreBackend(key="openai", client=sdk)
    theirs = sdk.vector_stores.create(name="Docent: Handbook")
    create = sdk.vector_stores.create

    def racing_create(**kwargs):
        ours = create(**kwargs)
        Corpus.objects.filter(pk=corpus.pk).update(vector_store_id=theirs.id)
        return ours

    monkeypatch.setattr(sdk.vector_stores, "create", racing_create)
    document = upload_text(corpus, HANDBOOK)

    backend.index_document(document=document, pages=[], markup="text", progress=noop)

    corpus.refresh_from_db()
    assert corpus.vector_store_id == theirs.id
    assert list(server.state.vector_stores) == [theirs.id]
    assert document.remote_file_id in server.state.vector_stores[theirs.id].files


def noop(stage: str, fraction: float) -> None:
    pass


def test_polling_follows_the_poll_after_header_and_renews_the_lease(
    server, corpus, sleeps, monkeypatch
):
    server.processing_polls = 3
    server.poll_after_ms = 250
    stages: list[str] = []
    original = services._Progress.__call__

    def recording(self, stage, fraction):
        stages.append(stage)
        original(self, stage, fraction)

    monkeypatch.setattr(services._Progress, "__call__", recording)

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "ready", document.error
    polls = server.requests_to("GET", STORE_FILE)
    assert len(polls) == 4  # in progress for three GETs, done on the fourth
    assert sleeps == [0.25] * 4
    assert stages.count("remote_processing") == 1 + len(polls)


def test_polling_without_a_header_waits_a_second_like_the_sdk(server, corpus, sleeps):
    server.poll_after_ms = None

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "ready", document.error
    assert sleeps == [1.0, 1.0]


def test_processing_that_outlasts_the_timeout_is_retried_later(server, corpus, settings):
    settings.INDEX_BACKENDS = {
        **settings.INDEX_BACKENDS,
        "openai": {
            **settings.INDEX_BACKENDS["openai"],
            "OPTIONS": {"processing_timeout_seconds": 0.01},
        },
    }
    server.processing_polls = 1000
    server.poll_after_ms = 20
    document = upload_text(corpus, HANDBOOK)

    with pytest.raises(services.RetryableIngestError):
        services.document_ingest(document_id=document.pk)

    document.refresh_from_db()
    assert document.status == "queued"
    assert "has not finished processing" in document.error


def test_retry_reuses_the_uploaded_file_instead_of_uploading_again(server, corpus, sleeps):
    server.fail_next("POST", ATTACH, status=500)
    document = upload_text(corpus, HANDBOOK)

    with pytest.raises(services.RetryableIngestError):
        services.document_ingest(document_id=document.pk)

    document.refresh_from_db()
    assert document.status == "queued"
    assert "will retry" in document.error
    file_id = document.remote_file_id
    assert file_id

    document = ingest(document)

    assert document.status == "ready", document.error
    assert document.remote_file_id == file_id
    assert len(server.requests_to("POST", UPLOADS)) == 1
    assert len(server.requests_to("POST", ATTACH)) == 2  # the failed one and the retry
    corpus.refresh_from_db()
    assert list(server.state.vector_stores[corpus.vector_store_id].files) == [file_id]
    assert set(server.state.files) == {file_id}


def test_retry_after_a_server_error_at_openai_attaches_the_file_afresh(server, corpus, sleeps):
    server.fail_file_processing("handbook.md", code="server_error")
    document = upload_text(corpus, HANDBOOK)

    with pytest.raises(services.RetryableIngestError):
        services.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert "An internal error occurred" in document.error

    server.file_failures.clear()
    document = ingest(document)

    assert document.status == "ready", document.error
    assert len(server.requests_to("POST", UPLOADS)) == 1
    corpus.refresh_from_db()
    assert server.state.vector_stores[corpus.vector_store_id].files[
        document.remote_file_id
    ].status == ("completed")


def test_rate_limit_is_retryable(server, corpus, sleeps):
    server.fail_next("POST", UPLOADS, status=429)
    document = upload_text(corpus, HANDBOOK)

    with pytest.raises(services.RetryableIngestError):
        services.document_ingest(document_id=document.pk)

    document.refresh_from_db()
    assert document.status == "queued"
    assert "rate-limiting" in document.error
    assert ingest(document).status == "ready"


def test_exhausted_quota_is_not_retried(server, corpus, sleeps):
    body = {
        "error": {
            "message": "You exceeded your current quota, please check your plan.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    server.fail_next("POST", UPLOADS, status=429, body=body)

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "failed"
    assert "quota" in document.error


def test_file_type_openai_cannot_search_fails_with_openais_reason(
    server, corpus, sleeps, fixture_docs
):
    outcome = services.document_upload_path(
        corpus=corpus, path=fixture_docs / "csv" / "stanley-cups.csv"
    )

    document = ingest(outcome.document)

    assert document.status == "failed"
    assert document.error == "OpenAI could not process this file: The file type is not supported."
    assert Page.objects.filter(document=document).exists()  # parsed locally before uploading


def test_file_openai_refuses_at_upload_fails_with_its_message(server, corpus, sleeps):
    body = {
        "error": {
            "message": "File is too large (maximum 512 MB).",
            "type": "invalid_request_error",
            "param": "file",
            "code": None,
        }
    }
    server.fail_next("POST", UPLOADS, status=413, body=body)

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "failed"
    assert document.error == "OpenAI refused this file: File is too large (maximum 512 MB)."


def test_invalid_api_key_fails_with_a_clear_message(server, corpus, settings, sleeps):
    server.require_api_key = "sk-the-right-key"
    settings.OPENAI_API_KEY = "sk-a-wrong-key-1234"

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "failed"
    assert document.error.startswith("OpenAI rejected the API key: Incorrect API key provided")
    assert "sk-a-wrong-key-1234" not in document.error


def test_missing_api_key_fails_with_a_clear_message(corpus, settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "failed"
    assert "No OpenAI API key is configured" in document.error


def test_constructing_the_backend_needs_no_credentials(settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""

    backend = OpenAIVectorStoreBackend(key="openai")

    assert backend.key == "openai"
    corpus = services.corpus_create(name="Later", index_backend="openai")
    assert corpus.vector_store_id == ""


# --- removal --------------------------------------------------------------------------------------


def test_deleting_a_document_detaches_and_deletes_its_file(server, corpus, sleeps):
    document = ingest(upload_text(corpus, HANDBOOK))
    corpus.refresh_from_db()
    file_id = document.remote_file_id

    services.document_delete(document=document)

    assert file_id not in server.state.vector_stores[corpus.vector_store_id].files
    assert file_id not in server.state.files
    assert server.requests_to("DELETE", rf"^/v1/vector_stores/[^/]+/files/{file_id}$")
    assert not Document.objects.filter(pk=document.pk).exists()


def test_deleting_a_document_already_gone_at_openai_still_works(server, corpus, sdk, sleeps):
    document = ingest(upload_text(corpus, HANDBOOK))
    sdk.files.delete(document.remote_file_id)
    corpus.refresh_from_db()
    sdk.vector_stores.delete(corpus.vector_store_id)

    services.document_delete(document=document)

    assert not Document.objects.filter(pk=document.pk).exists()


def test_failure_to_delete_at_openai_keeps_the_document(server, corpus, sleeps):
    document = ingest(upload_text(corpus, HANDBOOK))
    server.fail_next("DELETE", r"^/v1/files/", status=503)

    with pytest.raises(IndexingError) as error:
        services.document_delete(document=document)

    assert error.value.retryable
    assert Document.objects.filter(pk=document.pk).exists()


def test_document_never_uploaded_is_deleted_without_calling_openai(server, corpus):
    document = upload_text(corpus, HANDBOOK)

    services.document_delete(document=document)

    assert server.requests == []


def test_deleting_the_corpus_deletes_its_store_and_files(server, corpus, sleeps):
    documents = [
        ingest(upload_text(corpus, f"Memo {n} about parking.", f"m{n}.txt")) for n in (1, 2)
    ]
    corpus.refresh_from_db()
    store_id = corpus.vector_store_id

    services.corpus_delete(corpus=corpus)

    assert store_id not in server.state.vector_stores
    assert not {d.remote_file_id for d in documents} & set(server.state.files)
    assert not Corpus.objects.filter(pk=corpus.pk).exists()


# --- search ---------------------------------------------------------------------------------------


@pytest.fixture
def two_corpora(server, sleeps) -> tuple[Corpus, Corpus, Document, Document]:
    manuals = services.corpus_create(name="Manuals", index_backend="openai")
    museum = services.corpus_create(name="Museum", index_backend="openai")
    ledger = ingest(upload_bytes(manuals, topic_pages_pdf(), "ledger.pdf"))
    guide = ingest(
        upload_text(museum, "The glacier museum opens at nine. Glacier tours start hourly.")
    )
    assert (ledger.status, guide.status) == ("ready", "ready"), (ledger.error, guide.error)
    assert ledger.page_count == 3
    manuals.refresh_from_db()
    museum.refresh_from_db()
    return manuals, museum, ledger, guide


def test_search_finds_passages_of_this_corpus_with_their_pages(two_corpora):
    manuals, museum, ledger, guide = two_corpora
    assert manuals.vector_store_id != museum.vector_store_id

    hits = services.corpus_search(corpus=manuals, query="glacier ledger", k=5)

    assert hits
    assert {hit.document_id for hit in hits} == {ledger.pk}
    assert all(hit.page_start is not None for hit in hits)
    assert all(hit.page_start <= 2 <= hit.page_end for hit in hits if "glacier" in hit.text)
    top = hits[0]
    assert (top.page_start, top.page_end) == (2, 2)
    assert top.chunk_id is None
    assert top.document == "ledger.pdf"
    assert top.score > 0
    page = Page.objects.get(document=ledger, number=2)
    assert page.char_start <= top.char_start < top.char_end <= page.char_end

    museum_hits = services.corpus_search(corpus=museum, query="glacier ledger", k=5)
    assert {hit.document_id for hit in museum_hits} == {guide.pk}
    assert museum_hits[0].page_start == 1


def test_search_drops_files_of_other_corpora_and_documents_not_ready(two_corpora, sdk):
    manuals, _museum, ledger, guide = two_corpora
    # Someone attached the museum's file to the manuals' store by hand.
    sdk.vector_stores.files.create(
        manuals.vector_store_id,
        file_id=guide.remote_file_id,
        attributes={"docent_document_id": str(guide.pk)},
    )
    sdk.vector_stores.files.retrieve(guide.remote_file_id, vector_store_id=manuals.vector_store_id)
    sdk.vector_stores.files.retrieve(guide.remote_file_id, vector_store_id=manuals.vector_store_id)

    hits = services.corpus_search(corpus=manuals, query="glacier museum tours", k=10)
    assert {hit.document_id for hit in hits} == {ledger.pk}

    Document.objects.filter(pk=ledger.pk).update(status=DocumentStatus.PROCESSING)
    assert services.corpus_search(corpus=manuals, query="glacier", k=10) == []


def test_search_of_a_corpus_without_documents_asks_nothing(server):
    corpus = services.corpus_create(name="Empty", index_backend="openai")

    assert services.corpus_search(corpus=corpus, query="anything") == []
    assert server.requests == []


def test_fulltext_search_is_refused_with_a_reason(server):
    corpus = services.corpus_create(name="Remote", index_backend="openai")

    with pytest.raises(IndexingError, match="only available for corpora indexed locally") as error:
        services.corpus_search(corpus=corpus, query="anything", mode="fulltext")
    assert not error.value.retryable


def test_search_errors_are_translated(server, corpus, sleeps):
    ingest(upload_text(corpus, HANDBOOK))
    corpus.refresh_from_db()
    server.fail_next("POST", r"/search$", status=502)

    with pytest.raises(IndexingError, match="temporarily unavailable") as error:
        services.corpus_search(corpus=corpus, query="laptop")
    assert error.value.retryable


# --- adopting an existing vector store ----------------------------------------------------------


def make_store(sdk: openai.OpenAI, server: FakeOpenAIServer, files: dict[str, bytes]) -> str:
    server.processing_polls = 0
    ids = [
        sdk.files.create(file=(name, data), purpose="assistants").id for name, data in files.items()
    ]
    return sdk.vector_stores.create(name="Support", file_ids=ids).id


def test_adopting_a_store_makes_its_files_ready_documents(server, sdk, sleeps):
    server.fail_file_processing("broken.txt", code="invalid_file")
    pdf = topic_pages_pdf()
    store_id = make_store(
        sdk,
        server,
        {"handbook.md": HANDBOOK.encode(), "ledger.pdf": pdf, "broken.txt": b"\x00\x01"},
    )
    server.processing_polls = 1

    result = services.corpus_adopt_vector_store(vector_store_id=store_id, name="Support")

    corpus = result.corpus
    assert (corpus.index_backend, corpus.vector_store_id) == ("openai", store_id)
    assert result.imported == 2
    assert result.skipped == [
        ("broken.txt", "OpenAI could not process this file: The file could not be parsed.")
    ]
    handbook, ledger = Document.objects.filter(corpus=corpus).order_by("filename")
    assert (handbook.filename, ledger.filename) == ("handbook.md", "ledger.pdf")
    for document in (handbook, ledger):
        assert document.status == "ready"
        assert document.parser == "openai"
        assert document.remote_file_id in server.state.vector_stores[store_id].files
        assert document.warning == ""
    assert ledger.sha256 == hashlib.sha256(pdf).hexdigest()
    assert ledger.size_bytes == len(pdf)
    assert ledger.file.read() == pdf
    assert ledger.page_count == 3
    assert Page.objects.filter(document=ledger).count() == 3

    # Files without Docent's attributes are matched by their file id.
    hits = services.corpus_search(corpus=corpus, query="orchard ledger", k=3)
    assert hits[0].document_id == ledger.pk
    assert (hits[0].page_start, hits[0].page_end) == (3, 3)

    # New uploads join the adopted store.
    added = ingest(upload_text(corpus, "Parking is free after six.", "parking.txt"))
    assert added.status == "ready", added.error
    assert added.remote_file_id in server.state.vector_stores[store_id].files
    assert len(server.state.vector_stores) == 1


def test_adopting_keeps_documents_whose_original_openai_will_not_hand_out(server, sdk):
    store_id = make_store(sdk, server, {"handbook.md": HANDBOOK.encode()})
    refusal = {
        "error": {
            "message": "Not allowed to download files of purpose: assistants.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    server.fail_next("GET", r"^/v1/files/[^/]+/content$", status=400, body=refusal)

    result = services.corpus_adopt_vector_store(
        vector_store_id=store_id, name="Support", slug="support-desk"
    )

    assert result.imported == 1
    document = Document.objects.get(corpus=result.corpus)
    assert document.status == "ready"
    assert not document.file
    assert document.warning == services.NO_ORIGINAL_WARNING
    assert (
        document.sha256
        == hashlib.sha256(f"openai-file:{document.remote_file_id}".encode()).hexdigest()
    )
    assert document.size_bytes == len(HANDBOOK.encode())
    assert not Page.objects.filter(document=document).exists()

    hits = services.corpus_search(corpus=result.corpus, query="laptop headset", k=3)
    assert hits[0].document_id == document.pk
    assert hits[0].page_start is None


def test_adopting_an_unknown_store_is_refused(server):
    with pytest.raises(ValidationError, match="no vector store vs_missing"):
        services.corpus_adopt_vector_store(vector_store_id="vs_missing", name="Support")

    assert not Corpus.objects.exists()


def test_adopting_a_store_twice_is_refused(server, sdk):
    store_id = make_store(sdk, server, {"handbook.md": HANDBOOK.encode()})
    services.corpus_adopt_vector_store(vector_store_id=store_id, name="Support")

    with pytest.raises(ValidationError, match="already used by the corpus “Support”"):
        services.corpus_adopt_vector_store(vector_store_id=store_id, name="Support again")

    assert Corpus.objects.count() == 1


def test_adoption_interrupted_by_openai_keeps_nothing(server, sdk):
    store_id = make_store(sdk, server, {"a.md": b"Alpha memo.", "b.md": b"Beta memo."})
    server.fail_next("GET", r"^/v1/files/[^/]+/content$", status=500, times=5)

    with pytest.raises(ValidationError, match="temporarily unavailable"):
        services.corpus_adopt_vector_store(vector_store_id=store_id, name="Support")

    assert not Corpus.objects.exists()
    assert not Document.objects.exists()
    assert store_id in server.state.vector_stores  # not ours to delete


def test_backend_is_the_registered_openai_backend(server):
    assert isinstance(get_backend("openai"), OpenAIVectorStoreBackend)

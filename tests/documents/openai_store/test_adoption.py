"""Adopting an existing vector store (openai_store/adoption.py)."""

from __future__ import annotations

import hashlib

import openai
import pytest
from django.core.exceptions import ValidationError

from documents import services
from documents.models import Corpus, Document, Page
from tests.documents.conftest import HANDBOOK, ingest, upload_text
from tests.documents.openai_store.conftest import (
    topic_pages_pdf,
)
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db

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

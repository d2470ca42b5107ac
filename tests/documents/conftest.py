from __future__ import annotations

import io
from pathlib import Path

import pytest

from documents import services
from documents.models import Corpus, Document

HANDBOOK = """# Travel policy

Employees book flights through the travel desk at least fourteen days before departure.
Economy class is the default for flights shorter than six hours.

# Expenses

Meal expenses are reimbursed up to 45 euros per day when travelling abroad.
Receipts must be uploaded within thirty days of the end of the trip.

# Equipment

Every new employee receives a laptop and a headset on the first working day.
Lost equipment must be reported to the IT service desk within 24 hours.
"""


@pytest.fixture
def corpus(db) -> Corpus:
    return services.corpus_create(name="Handbook", slug="handbook")


@pytest.fixture
def other_corpus(db) -> Corpus:
    return services.corpus_create(name="Other", slug="other")


def upload_text(corpus: Corpus, text: str, filename: str = "handbook.md") -> Document:
    outcome = services.document_upload(
        corpus=corpus, file=io.BytesIO(text.encode()), filename=filename
    )
    return outcome.document


def ingest(document: Document) -> Document:
    services.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    return document


@pytest.fixture
def ready_document(corpus: Corpus) -> Document:
    document = ingest(upload_text(corpus, HANDBOOK))
    assert document.status == "ready", document.error
    return document


@pytest.fixture
def docs_dir(fixture_docs: Path) -> Path:
    return fixture_docs

"""Fixtures of the OpenAI vector-store backend's tests: the fake server as OPENAI_BASE_URL,
the polls' waits recorded instead of slept, and documents with pages of distinct topics."""

from __future__ import annotations

import io

import openai
import pytest

from documents import services
from documents.backends.openai_store import files
from documents.models import Corpus, Document
from tests.fakes.openai_server import FakeOpenAIServer

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
    monkeypatch.setattr(files, "_sleep", recorded.append)
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

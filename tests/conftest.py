"""Shared by every test: no broker, a media folder per test, the fake OpenAI server, and
the people and small ingested corpus the web UI tests (tests/chat, tests/documents,
tests/config) use.

Roles: `owner` manages the corpus, `contributor` may upload, `reader` may read and chat,
`outsider` has an account but no access, and `other_corpus` is shared with the outsider only.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from config.celery import app as celery_app
from documents import services as document_services
from documents.models import Corpus, CorpusMembership, Document, Role
from tests.brokers import broker  # noqa: F401  (filesystem and Redis, for real workers)
from tests.factories import UserFactory
from tests.fakes.openai_server.fixtures import fake_openai, fake_openai_server  # noqa: F401

# Tests never reach a real broker: messages published by services land in memory and are
# inspected through django_capture_on_commit_callbacks. The tests with a real worker run once
# with the filesystem broker and once with Redis (the `broker` fixture, tests/brokers.py).
celery_app.conf.broker_url = "memory://"
celery_app.conf.broker_transport_options = {}

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_DOCS = FIXTURES / "docs"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _media_root(settings: object, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fresh_query_vectors() -> Iterator[None]:
    """A test that makes the embeddings server fail must not be served an earlier test's
    cached question vector."""
    from documents.backends.embeddings import forget_query_vectors

    yield
    forget_query_vectors()


@pytest.fixture
def fixture_docs() -> Path:
    return FIXTURE_DOCS


# --- people and a corpus for the web UI ----------------------------------------------------------

PASSWORD = "correct horse battery staple"

MEALS = """# Travel expenses

Meal expenses are reimbursed up to 45 euros per day when travelling abroad.
Receipts for meals must be uploaded within thirty days of the end of the trip.
"""

CARS = """# Company cars

Company cars are leased for four years and replaced after 120,000 kilometres.
Fuel receipts must be kept for one year in case of an audit.
"""

HOSTILE = """# Hostile document

The cafeteria closes at <script>alert("doc")</script> five o'clock every Friday afternoon.
Visitors sign in at <img src=x onerror=alert(1)> the front desk before entering the building.
"""


@dataclass
class People:
    owner: Any
    contributor: Any
    reader: Any
    outsider: Any


def make_people() -> People:
    return People(
        owner=UserFactory(username="olivia"),
        contributor=UserFactory(username="carl"),
        reader=UserFactory(username="rita"),
        outsider=UserFactory(username="oscar"),
    )


def share(corpus: Corpus, people: People) -> None:
    for user, role in (
        (people.owner, Role.MANAGER),
        (people.contributor, Role.CONTRIBUTOR),
        (people.reader, Role.READER),
    ):
        CorpusMembership.objects.create(corpus=corpus, user=user, role=role)


def ingest_text(corpus: Corpus, filename: str, text: str) -> Document:
    outcome = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(text.encode()), filename=filename
    )
    document_services.document_ingest(document_id=outcome.document.pk)
    outcome.document.refresh_from_db()
    assert outcome.document.status == "ready", outcome.document.error
    return outcome.document


def make_corpus(people: People) -> Corpus:
    corpus = document_services.corpus_create(
        name="Policies", slug="policies", description="Travel, cars and the office."
    )
    share(corpus, people)
    ingest_text(corpus, "meals.md", MEALS)
    ingest_text(corpus, "cars.md", CARS)
    return corpus


@pytest.fixture
def people(db) -> People:
    return make_people()


@pytest.fixture
def corpus(people) -> Corpus:
    return make_corpus(people)


def make_other_corpus(people: People) -> Corpus:
    other = document_services.corpus_create(name="Secret", slug="secret")
    CorpusMembership.objects.create(corpus=other, user=people.outsider, role=Role.MANAGER)
    return other


@pytest.fixture
def other_corpus(people) -> Corpus:
    return make_other_corpus(people)


@pytest.fixture
def meals(corpus) -> Document:
    return corpus.documents.get(filename="meals.md")


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def as_owner(people) -> Client:
    return client_for(people.owner)


@pytest.fixture
def as_contributor(people) -> Client:
    return client_for(people.contributor)


@pytest.fixture
def as_reader(people) -> Client:
    return client_for(people.reader)


@pytest.fixture
def as_outsider(people) -> Client:
    return client_for(people.outsider)


@dataclass
class Stream:
    """A parsed text/event-stream body."""

    events: list[tuple[str, Any]] = field(default_factory=list)

    def named(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    def names(self) -> list[str]:
        return [event for event, _ in self.events]


def parse_sse(body: str) -> Stream:
    stream = Stream()
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        text = "\n".join(data)
        # OpenAI's streams end with a bare `data: [DONE]`.
        stream.events.append((name, text if text == "[DONE]" else json.loads(text)))
    return stream

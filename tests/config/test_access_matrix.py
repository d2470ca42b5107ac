"""Every page and endpoint of the web UI, for every kind of person, with the exact status.

People: a manager, a contributor and a reader of the corpus, a member of a group that holds
the contributor role, an outsider (an account without access) and an anonymous visitor. The
conversation and its message belong to the reader: nobody else sees them, managers included.
Objects a person may not see are 404; actions a person may see but not do are 403; a page
that does not exist is the site's own 404. (The HTTP API has its own matrix in
tests/api/test_access.py.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from chat import services as chat_services
from chat.models import Conversation, Message
from documents import services as document_services
from documents.models import CorpusMembership, Document, Role
from tests.conftest import FIXTURE_DOCS, client_for, make_corpus, make_people
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

WHO = ["manager", "contributor", "reader", "group_member", "outsider", "anonymous"]


@dataclass(frozen=True)
class World:
    slug: str
    people: dict[str, Any]
    document: Document
    pdf: Document
    conversation: Conversation
    message: Message


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _media_root(settings, media_dir) -> None:
    # Overrides tests/conftest.py's per-test folder: the world's originals live here.
    settings.MEDIA_ROOT = media_dir


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, media_dir) -> Iterator[World]:
    """Built once and committed; every test runs in a transaction that is rolled back, so what
    one test deletes or uploads is gone before the next."""
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media_dir):
        people = make_people()
        corpus = make_corpus(people)
        staff = Group.objects.create(name="staff")
        group_member = UserFactory(username="gina")
        group_member.groups.add(staff)
        CorpusMembership.objects.create(corpus=corpus, group=staff, role=Role.CONTRIBUTOR)
        pdf = ingest_file(corpus, FIXTURE_DOCS / "pdf-basic" / "pdflatex-4-pages.pdf")
        conversation = chat_services.conversation_start(corpus=corpus, user=people.reader)
        message = chat_services.message_ask_collect(
            conversation=conversation, question="What is the meal allowance abroad?"
        )
        yield World(
            slug=corpus.slug,
            people={
                "manager": people.owner,
                "contributor": people.contributor,
                "reader": people.reader,
                "group_member": group_member,
                "outsider": people.outsider,
                "anonymous": None,
            },
            document=corpus.documents.get(filename="meals.md"),
            pdf=pdf,
            conversation=conversation,
            message=message,
        )
        document_services.corpus_delete(corpus=corpus)
        staff.delete()
        for user in (*vars(people).values(), group_member):
            user.delete()


def ingest_file(corpus: Any, path: Path) -> Document:
    outcome = document_services.document_upload_path(corpus=corpus, path=path)
    document_services.document_ingest(document_id=outcome.document.pk)
    outcome.document.refresh_from_db()
    assert outcome.document.status == "ready", outcome.document.error
    return outcome.document


@dataclass(frozen=True)
class Case:
    method: str
    url: Callable[[World], str]
    expected: dict[str, int]
    data: Callable[[], dict[str, Any]] | None = None
    headers: dict[str, str] | None = None


def members(status: int, *, reader: int | None = None, outsider: int = 404) -> dict[str, int]:
    """Manager, contributor and group member get `status`; the reader `reader` (default the
    same); outsiders `outsider`; anonymous visitors are sent to sign in (302)."""
    return {
        "manager": status,
        "contributor": status,
        "group_member": status,
        "reader": status if reader is None else reader,
        "outsider": outsider,
        "anonymous": 302,
    }


def only_the_reader(status: int) -> dict[str, int]:
    return {
        "manager": 404,
        "contributor": 404,
        "group_member": 404,
        "reader": status,
        "outsider": 404,
        "anonymous": 302,
    }


def c(w: World) -> str:
    return f"/c/{w.slug}"


def doc(w: World) -> str:
    return f"/c/{w.slug}/documents/{w.document.pk}"


def conv(w: World) -> str:
    return f"/c/{w.slug}/conversations/{w.conversation.pk}"


JSON = {"Accept": "application/json"}

CASES = {
    "home": Case("get", lambda w: "/", members(200, outsider=200)),
    "chat": Case("get", lambda w: f"{c(w)}/", members(200)),
    "ask (new conversation)": Case(
        "post", lambda w: f"{c(w)}/ask", members(200), data=lambda: {"question": "meals?"}
    ),
    "conversation": Case("get", lambda w: f"{conv(w)}/", only_the_reader(200)),
    "ask (in a conversation)": Case(
        "post",
        lambda w: f"{conv(w)}/ask",
        only_the_reader(200),
        data=lambda: {"question": "and receipts?"},
    ),
    "rename": Case(
        "post",
        lambda w: f"{conv(w)}/rename",
        only_the_reader(302),
        data=lambda: {"title": "Meals"},
    ),
    "delete conversation (confirm)": Case(
        "get", lambda w: f"{conv(w)}/delete", only_the_reader(200)
    ),
    "delete conversation": Case("post", lambda w: f"{conv(w)}/delete", only_the_reader(302)),
    "feedback": Case(
        "post",
        lambda w: f"{c(w)}/messages/{w.message.pk}/feedback",
        only_the_reader(302),
        data=lambda: {"rating": "up"},
    ),
    "documents": Case("get", lambda w: f"{c(w)}/documents/", members(200)),
    "upload": Case(
        "post",
        lambda w: f"{c(w)}/documents/upload",
        members(201, reader=403),
        data=lambda: {"file": SimpleUploadedFile("new.md", b"# New\n\nA new policy.")},
        headers=JSON,
    ),
    "viewer": Case("get", lambda w: f"{doc(w)}/?page=1", members(200)),
    "status": Case("get", lambda w: f"{doc(w)}/status", members(200)),
    "download": Case("get", lambda w: f"{doc(w)}/download", members(200)),
    "page image": Case(
        "get", lambda w: f"/c/{w.slug}/documents/{w.pdf.pk}/pages/1.png", members(200)
    ),
    "retry": Case("post", lambda w: f"{doc(w)}/retry", members(302, reader=403)),
    "delete document (confirm)": Case(
        "get", lambda w: f"{doc(w)}/delete", members(200, reader=403)
    ),
    "delete document": Case("post", lambda w: f"{doc(w)}/delete", members(302, reader=403)),
    "API tokens": Case("get", lambda w: "/api/tokens/", members(200, outsider=200)),
    "admin": Case(
        "get",
        lambda w: "/admin/",
        {who: 302 for who in WHO},  # none of them is staff: the admin's own sign-in page
    ),
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", list(CASES))
def test_access(world, name, who):
    case = CASES[name]
    client = client_for(world.people[who])
    kwargs: dict[str, Any] = {}
    if case.data is not None:
        kwargs["data"] = case.data()
    if case.headers:
        kwargs["headers"] = case.headers
    response = getattr(client, case.method)(case.url(world), **kwargs)
    try:
        assert response.status_code == case.expected[who], (name, who, response.status_code)
    finally:
        if getattr(response, "streaming", False):
            response.close()


@override_settings(DEBUG=False)
def test_unknown_pages_use_the_site_404(world):
    response = client_for(world.people["reader"]).get("/no/such/page")
    assert response.status_code == 404
    html = response.content.decode()
    assert "This page isn't here" in html
    assert "docent.css" in html

"""People, corpora and tokens for the API tests.

`policies` is shared with a manager, a contributor, a reader and a group (as contributor);
the manager also manages `secret`, which nobody else can see. `outsider` has an account and a
token but no corpus. Every token helper returns the plaintext to send.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.db import connection, connections
from django.test import Client

from api import services as api_services
from documents import services as document_services
from documents.models import Corpus, CorpusMembership, Document, Role
from tests.conftest import Stream, parse_sse  # noqa: F401  (the API tests import them from here)
from tests.factories import UserFactory

MEALS = """# Travel expenses

Meal expenses are reimbursed up to 45 euros per day when travelling abroad.
Receipts for meals must be uploaded within thirty days of the end of the trip.
"""

CARS = """# Company cars

Company cars are leased for four years and replaced after 120,000 kilometres.
Fuel receipts must be kept for one year in case of an audit.
"""

ROOT = Path(__file__).resolve().parents[2]
ALL_PERMISSIONS = ["*:query,ingest,manage"]


@dataclass
class People:
    manager: Any
    contributor: Any
    reader: Any
    group_member: Any
    outsider: Any

    def get(self, who: str) -> Any:
        return getattr(self, who)


PERSONS = ["manager", "contributor", "reader", "group_member", "outsider"]


def make_people() -> People:
    return People(
        manager=UserFactory(username="mona"),
        contributor=UserFactory(username="carl"),
        reader=UserFactory(username="rita"),
        group_member=UserFactory(username="gus"),
        outsider=UserFactory(username="oscar"),
    )


def ingest_text(corpus: Corpus, filename: str, text: str) -> Document:
    outcome = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(text.encode()), filename=filename
    )
    document_services.document_ingest(document_id=outcome.document.pk)
    outcome.document.refresh_from_db()
    assert outcome.document.status == "ready", outcome.document.error
    return outcome.document


def make_corpora(people: People) -> tuple[Corpus, Corpus]:
    policies = document_services.corpus_create(name="Policies", slug="policies")
    for user, role in (
        (people.manager, Role.MANAGER),
        (people.contributor, Role.CONTRIBUTOR),
        (people.reader, Role.READER),
    ):
        CorpusMembership.objects.create(corpus=policies, user=user, role=role)
    staff = Group.objects.create(name="staff")
    people.group_member.groups.add(staff)
    CorpusMembership.objects.create(corpus=policies, group=staff, role=Role.CONTRIBUTOR)
    ingest_text(policies, "meals.md", MEALS)

    secret = document_services.corpus_create(name="Secret", slug="secret")
    CorpusMembership.objects.create(corpus=secret, user=people.manager, role=Role.MANAGER)
    # Left queued: nothing here needs its passages.
    document_services.document_upload(
        corpus=secret, file=io.BytesIO(b"# Salaries\n\nReviewed every April.\n"), filename="pay.md"
    )
    return policies, secret


def token_for(user: Any, scopes: list[str] | None = None, **kwargs: Any) -> str:
    from api.scopes import scopes_parse

    _, plaintext = api_services.token_create(
        user=user, name="test", scopes=scopes_parse(scopes or ALL_PERMISSIONS), **kwargs
    )
    return plaintext


def api_client(plaintext: str | None) -> Client:
    if plaintext is None:
        return Client()
    return Client(headers={"Authorization": f"Bearer {plaintext}"})


@pytest.fixture
def people(db) -> People:
    return make_people()


@pytest.fixture
def corpora(people) -> tuple[Corpus, Corpus]:
    return make_corpora(people)


@pytest.fixture
def policies(corpora) -> Corpus:
    return corpora[0]


@pytest.fixture
def secret(corpora) -> Corpus:
    return corpora[1]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Nobody signs in with a password here; the default hasher costs half a second a user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _streams_finish():
    """Answer threads, and asgiref's thread for async ORM calls, hold database connections:
    wait for the first and close the second's, so the test database can be dropped."""
    yield
    for thread in threading.enumerate():
        if thread.name == "docent-stream":
            thread.join(timeout=10)
    asyncio.run(sync_to_async(connections.close_all)())


def streamed_body(response: Any) -> str:
    """The whole body of a streaming response from the sync test client."""
    chunks = list(response.streaming_content)
    return "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)


# --- the app under uvicorn ------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveApp:
    url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_app(django_db_setup, fake_openai_server, tmp_path_factory) -> Iterator[LiveApp]:
    """The app as production runs it (uvicorn, ASGI) on the test database, answering with
    the fake OpenAI server as its chat model. Tests using it commit their data
    (django_db(transaction=True)) so that the server sees it."""
    db = connection.settings_dict
    host = quote(db["HOST"], safe="") if db["HOST"] else "localhost"
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    tmp = tmp_path_factory.mktemp("live_app")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "SECRET_KEY": "live-app-test-key",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "MEDIA_ROOT": str(tmp / "media"),
        "CELERY_BROKER_URL": "memory://",
        "CHAT_COMPLETIONS_BASE_URL": fake_openai_server.base_url,
        "CHAT_COMPLETIONS_API_KEY": "test",
        "CHAT_COMPLETIONS_MODEL": "fake-chat",
        "OPENAI_MAX_RETRIES": "0",
        # Property-based runs send hundreds of requests a minute; 429s are tested in process.
        "API_RATE_LIMIT_PER_MINUTE": "0",
    }
    log_path = tmp / "uvicorn.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield LiveApp(url=url, log=log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()

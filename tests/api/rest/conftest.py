"""The REST API tests' people: a contributor of `policies` with a token, and `ask`.

Answers run in a thread with its own database connection (chat.streaming.iterate_in_thread),
so these tests commit their data (each module is django_db(transaction=True))."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import api_client, make_corpora, make_people, token_for


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def policies(people):
    return make_corpora(people)[0]


@pytest.fixture
def plaintext(people, policies):
    return token_for(people.contributor, ["policies:query,ingest"])


@pytest.fixture
def client(plaintext):
    return api_client(plaintext)


def ask(client, question, **body):
    return client.post(
        "/api/corpora/policies/ask",
        json.dumps({"question": question, **body}),
        content_type="application/json",
    )

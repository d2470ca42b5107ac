"""Who may call what: every route of both APIs, for every kind of caller and token scope.

404 means the token cannot see the thing at all (its user may not read the corpus, or its scopes
do not name it); 403 means it can see the corpus but lacks the permission (or its user the role)
for this request. Answers run in a thread with its own connection, so data is committed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from api import services as api_services
from api.models import ApiToken
from chat import services as chat_services
from chat.models import Conversation
from documents.models import CorpusMembership, Document
from tests.api.conftest import PERSONS, api_client, make_corpora, make_people, token_for

pytestmark = pytest.mark.django_db(transaction=True)

ROUTES = [
    "GET /api/corpora",
    "GET /api/corpora/{corpus}",
    "GET /api/corpora/{corpus}/search",
    "POST /api/corpora/{corpus}/ask",
    "POST /api/corpora/{corpus}/documents",
    "GET /api/corpora/{corpus}/documents",
    "GET /api/documents/{document}",
    "DELETE /api/documents/{document}",
    "GET /api/conversations",
    "GET /api/conversations/{conversation}",
    "DELETE /api/conversations/{conversation}",
    "GET /v1/models",
    "GET /v1/models/{corpus}",
    "POST /v1/chat/completions",
]

MEMBER = [200, 200, 200, 200, 403, 200, 200, 403, 200, 200, 204, 200, 200, 200]
EDITOR = [200, 200, 200, 200, 201, 200, 200, 204, 200, 200, 204, 200, 200, 200]
HIDDEN = [200, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404, 200, 404, 404]
ANONYMOUS = [401] * len(ROUTES)

EXPECTED = {
    "manager": EDITOR,
    "contributor": EDITOR,
    "reader": MEMBER,
    "group_member": EDITOR,  # the group is a contributor
    "outsider": HIDDEN,
    "anonymous": ANONYMOUS,
}


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def corpora(people):
    return make_corpora(people)


def call(client, route: str, ids: dict[str, Any]) -> int:
    method, path = route.split(" ")
    url = path.format(**ids)
    if route == "POST /api/corpora/{corpus}/ask":
        response = client.post(
            url, json.dumps({"question": "How much are meals?"}), content_type="application/json"
        )
    elif route == "POST /api/corpora/{corpus}/documents":
        upload = SimpleUploadedFile("new.md", f"# New {ids['corpus']}\n\nFresh text.\n".encode())
        response = client.post(url, {"files": [upload]})
    elif route == "POST /v1/chat/completions":
        body = {"model": ids["corpus"], "messages": [{"role": "user", "content": "Meals?"}]}
        response = client.post(url, json.dumps(body), content_type="application/json")
    elif route == "GET /api/corpora/{corpus}/search":
        response = client.get(url, {"q": "meals"})
    else:
        response = client.generic(method, url)
    return response.status_code


def statuses(client, ids: dict[str, Any]) -> dict[str, int]:
    return {route: call(client, route, ids) for route in ROUTES}


def ids_for(corpus, user) -> dict[str, Any]:
    """A document of `corpus` and a conversation of `user` in it (started before any access
    check, as if they had lost access since)."""
    document = Document.objects.filter(corpus=corpus).first()
    conversation = chat_services.conversation_start(corpus=corpus, user=user)
    return {"corpus": corpus.slug, "document": document.pk, "conversation": conversation.pk}


@pytest.mark.parametrize("who", [*PERSONS, "anonymous"])
def test_every_route_answers_each_kind_of_caller(people, corpora, who):
    policies, _ = corpora
    user = people.get(who) if who != "anonymous" else people.reader
    plaintext = None if who == "anonymous" else token_for(user)
    ids = ids_for(policies, user)
    expected = dict(zip(ROUTES, EXPECTED[who], strict=True))
    assert statuses(api_client(plaintext), ids) == expected


@pytest.mark.parametrize("who", PERSONS)
def test_listings_show_only_what_the_token_may_query(people, corpora, who):
    client = api_client(token_for(people.get(who)))
    corpora_listed = [c["slug"] for c in client.get("/api/corpora").json()]
    models = [m["id"] for m in client.get("/v1/models").json()["data"]]
    expected = {"manager": ["policies", "secret"], "outsider": []}.get(who, ["policies"])
    assert corpora_listed == expected
    assert models == expected


def test_permissions_listed_per_corpus_follow_scope_and_role(people, corpora):
    client = api_client(token_for(people.reader, ["*:query,ingest"]))
    assert client.get("/api/corpora/policies").json()["permissions"] == ["query"]
    client = api_client(token_for(people.manager, ["policies:query,ingest,manage", "*:query"]))
    listed = {c["slug"]: c["permissions"] for c in client.get("/api/corpora").json()}
    assert listed == {"policies": ["query", "ingest", "manage"], "secret": ["query"]}


QUERY_ONLY = [200, 200, 200, 200, 403, 200, 200, 403, 200, 200, 204, 200, 200, 200]
INGEST_ONLY = [200, 403, 403, 403, 201, 403, 403, 204, 200, 403, 403, 200, 404, 404]


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [(["*:query"], QUERY_ONLY), (["policies:ingest"], INGEST_ONLY)],
    ids=["query-only", "ingest-only"],
)
def test_a_token_does_only_what_its_scopes_allow(people, corpora, scopes, expected):
    policies, _ = corpora
    ids = ids_for(policies, people.manager)
    client = api_client(token_for(people.manager, scopes))
    assert statuses(client, ids) == dict(zip(ROUTES, expected, strict=True))


def test_a_token_for_one_corpus_cannot_touch_another_the_user_manages(people, corpora):
    policies, secret = corpora
    client = api_client(token_for(people.manager, ["policies:query,ingest,manage"]))
    expected = dict(zip(ROUTES, HIDDEN, strict=True))
    assert statuses(client, ids_for(secret, people.manager)) == expected
    assert [c["slug"] for c in client.get("/api/corpora").json()] == ["policies"]
    assert statuses(client, ids_for(policies, people.manager)) == dict(
        zip(ROUTES, EDITOR, strict=True)
    )


def test_losing_membership_removes_access_at_once(people, corpora):
    policies, _ = corpora
    ids = ids_for(policies, people.reader)
    client = api_client(token_for(people.reader))
    assert client.get("/api/corpora/policies").status_code == 200
    CorpusMembership.objects.filter(user=people.reader).delete()
    assert statuses(client, ids) == dict(zip(ROUTES, HIDDEN, strict=True))
    assert Conversation.objects.filter(pk=ids["conversation"]).exists()


def test_group_members_lose_access_with_the_group(people, corpora):
    client = api_client(token_for(people.group_member))
    assert client.get("/api/corpora/policies").status_code == 200
    people.group_member.groups.clear()
    assert client.get("/api/corpora/policies").status_code == 404


def test_someone_elses_conversation_is_404(people, corpora):
    policies, _ = corpora
    ids = ids_for(policies, people.reader)
    client = api_client(token_for(people.manager))
    assert client.get(f"/api/conversations/{ids['conversation']}").status_code == 404
    assert client.delete(f"/api/conversations/{ids['conversation']}").status_code == 404
    assert Conversation.objects.filter(pk=ids["conversation"]).exists()


@pytest.mark.parametrize("state", ["revoked", "expired", "deactivated", "garbage", "no bearer"])
def test_dead_tokens_get_401_in_each_apis_shape(people, corpora, state):
    plaintext = token_for(people.reader)
    token = ApiToken.objects.get()
    headers = {"Authorization": f"Bearer {plaintext}"}
    if state == "revoked":
        api_services.token_revoke(token=token)
    elif state == "expired":
        ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    elif state == "deactivated":
        people.reader.is_active = False
        people.reader.save()
    elif state == "garbage":
        headers = {"Authorization": "Bearer dct_nonsense"}
    else:
        headers = {"Authorization": plaintext}
    client = api_client(None)
    rest = client.get("/api/corpora", headers=headers)
    assert rest.status_code == 401
    assert rest["WWW-Authenticate"] == "Bearer"
    error = rest.json()["error"]
    assert error["code"] == "unauthorized"
    assert error["retryable"] is False
    assert "Bearer" in error["message"]
    openai = client.get("/v1/models", headers=headers)
    assert openai.status_code == 401
    assert openai.json()["error"]["code"] == "invalid_api_key"
    assert openai.json()["error"]["type"] == "invalid_request_error"

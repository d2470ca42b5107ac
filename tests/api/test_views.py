"""The token page of the web UI and the admin."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from api import services
from api.models import ApiToken
from documents import services as document_services
from documents.models import CorpusMembership, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user():
    return UserFactory(username="tina")


@pytest.fixture
def handbook(user):
    corpus = document_services.corpus_create(name="Handbook", slug="handbook")
    CorpusMembership.objects.create(corpus=corpus, user=user, role=Role.CONTRIBUTOR)
    document_services.corpus_create(name="Hidden", slug="hidden")
    return corpus


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_page_needs_sign_in(client):
    response = client.get("/api/tokens/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_page_offers_only_reachable_corpora_with_the_users_role(browser, handbook):
    html = browser.get("/api/tokens/").content.decode()
    assert "Handbook (contributor)" in html
    assert "Hidden" not in html
    assert 'value="*"' in html
    assert "You have no tokens yet." in html
    assert "/api/docs" in html


def test_creating_a_token_shows_it_once(browser, user, handbook):
    response = browser.post(
        "/api/tokens/",
        {
            "name": "Open WebUI",
            "corpora": ["handbook"],
            "permissions": ["query", "ingest"],
            "expires_in_days": "30",
        },
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"].replace(" ", "").split(",")
    html = response.content.decode()
    plaintext = re.search(r'value="(dct_[A-Za-z0-9]{43})"', html).group(1)
    token = services.token_authenticate(plaintext=plaintext)
    assert token.user == user
    assert token.name == "Open WebUI"
    assert token.scopes == [{"corpus": "handbook", "permissions": ["query", "ingest"]}]
    assert token.expires_at is not None
    assert "Copy it now" in html
    assert "handbook: query, ingest" in html
    # Shown once: the list afterwards has the prefix only.
    again = browser.get("/api/tokens/").content.decode()
    assert plaintext not in again
    assert f"dct_{token.prefix}…" in again
    assert "0\xa0minutes ago" in again  # used just now, by token_authenticate above


def test_a_form_with_mistakes_is_shown_again_with_the_reasons(browser, handbook):
    response = browser.post(
        "/api/tokens/", {"name": "", "corpora": ["hidden"], "expires_in_days": "0"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "This field is required." in html
    assert "Select a valid choice. hidden is not one of the available choices." in html
    assert "greater than or equal to 1" in html
    assert not ApiToken.objects.exists()


def test_revoking_a_token(browser, user, handbook):
    token, plaintext = services.token_create(
        user=user, name="old", scopes=[{"corpus": "*", "permissions": ["query"]}]
    )
    response = browser.post(f"/api/tokens/{token.pk}/revoke")
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Revoked the token “old” (dct_{token.prefix}…)."
    ]
    assert services.token_authenticate(plaintext=plaintext) is None
    html = browser.get("/api/tokens/").content.decode()
    assert "Revoked" in html
    assert f"/api/tokens/{token.pk}/revoke" not in html


def test_other_peoples_tokens_are_404(browser, handbook):
    other, plaintext = services.token_create(
        user=UserFactory(username="uma"),
        name="x",
        scopes=[{"corpus": "*", "permissions": ["query"]}],
    )
    assert browser.post(f"/api/tokens/{other.pk}/revoke").status_code == 404
    assert browser.get(f"/api/tokens/{other.pk}/revoke").status_code == 405
    assert services.token_authenticate(plaintext=plaintext) is not None
    assert "dct_" + other.prefix not in browser.get("/api/tokens/").content.decode()


# --- admin ----------------------------------------------------------------------------------------


@pytest.fixture
def admin_browser():
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


def test_admins_create_a_token_for_someone_and_see_it_once(admin_browser, user, handbook):
    response = admin_browser.post(
        "/admin/api/apitoken/add/",
        {
            "user": user.pk,
            "name": "Reports",
            "scopes": "handbook:query\n*:query",
            "expires_in_days": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    plaintext = re.search(r"dct_[A-Za-z0-9]{43}", " ".join(messages)).group(0)
    token = services.token_authenticate(plaintext=plaintext)
    assert token.user == user
    assert token.name == "Reports"
    assert token.created_by.username == "root"
    assert token.scopes == [
        {"corpus": "handbook", "permissions": ["query"]},
        {"corpus": "*", "permissions": ["query"]},
    ]
    change = admin_browser.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert token.key_hash not in change
    assert "key_hash" not in change
    assert plaintext not in change
    assert "handbook:query" in change
    listing = admin_browser.get("/admin/api/apitoken/?q=Reports").content.decode()
    assert f"dct_{token.prefix}…" in listing
    assert token.key_hash not in listing


def test_the_admin_refuses_bad_scopes(admin_browser, user):
    response = admin_browser.post(
        "/admin/api/apitoken/add/", {"user": user.pk, "name": "x", "scopes": "nowhere:query"}
    )
    assert response.status_code == 200
    assert "No corpus has the slug" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_admins_edit_and_revoke_tokens(admin_browser, user, handbook):
    token, plaintext = services.token_create(
        user=user, name="old", scopes=[{"corpus": "*", "permissions": ["query"]}]
    )
    response = admin_browser.post(
        f"/admin/api/apitoken/{token.pk}/change/",
        {
            "name": "renamed",
            "scopes": "handbook:query,ingest",
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    token.refresh_from_db()
    assert token.name == "renamed"
    assert token.scopes == [{"corpus": "handbook", "permissions": ["query", "ingest"]}]
    response = admin_browser.post(
        "/admin/api/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
        follow=True,
    )
    assert "Revoked 1 token(s)." in response.content.decode()
    assert services.token_authenticate(plaintext=plaintext) is None
    revoked = admin_browser.get("/admin/api/apitoken/?state=revoked").content.decode()
    assert "renamed" in revoked
    assert "renamed" not in admin_browser.get("/admin/api/apitoken/?state=active").content.decode()

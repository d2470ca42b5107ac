"""The whole single sign-on redirect flow, against a real OpenID Connect provider in a second
process (conftest.py), driven over HTTP as a browser would: Docent's sign-in page, Docent's
redirect to the provider, the provider's own sign-in form, its redirect back with a code,
Docent's back-channel token exchange (PKCE), ID-token checks against the provider's JWKS, the
account, its groups and so its corpora, and the audit log."""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth.models import Group, User

from audit.models import Action, AuditEvent
from documents import services as document_services
from documents.models import Corpus, CorpusMembership, Role
from tests.factories import UserFactory
from tests.sso.conftest import provider_sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def start(live_server, browser: requests.Session, next_url: str = "") -> requests.Response:
    login = browser.get(f"{live_server.url}/accounts/login/", timeout=30)
    assert login.status_code == 200
    assert "Sign in with Test IdP" in login.text
    path = "/oidc/authenticate/" + (f"?next={next_url}" if next_url else "")
    assert path.split("?")[0] in login.text
    return browser.get(f"{live_server.url}{path}", timeout=30)


def test_sign_in_creates_the_account_maps_groups_and_opens_the_corpora(
    live_server, sso_settings, oidc_provider
):
    finance = Group.objects.create(name="Finance")
    ledger = document_services.corpus_create(name="Ledger", slug="ledger")
    CorpusMembership.objects.create(corpus=ledger, group=finance, role=Role.READER)
    document_services.corpus_create(name="Board", slug="board")  # shared with nobody
    browser = requests.Session()

    provider_page = start(live_server, browser)
    assert provider_page.url.startswith(oidc_provider.issuer.rsplit("/o", 1)[0])
    to_provider = provider_page.history[0].headers["Location"]
    assert "code_challenge=" in to_provider  # PKCE
    assert "client_id=docent" in to_provider
    landed = provider_sign_in(browser, provider_page, username="grace")

    assert landed.status_code == 200
    assert landed.url.startswith(live_server.url)
    assert "/accounts/login/" not in landed.url
    grace = User.objects.get(email="grace@example.com")
    assert grace.username == "grace"
    assert grace.first_name == "Grace"
    assert not grace.has_usable_password()
    assert list(grace.groups.values_list("name", flat=True)) == ["Finance"]
    assert list(Corpus.objects.for_user(grace).values_list("slug", flat=True)) == ["ledger"]
    home = browser.get(f"{live_server.url}/", timeout=30)
    assert home.status_code == 200
    assert "Ledger" in home.text
    assert "Board" not in home.text

    signin = AuditEvent.objects.get(action=Action.SIGNIN)
    assert signin.actor_id == grace.pk
    assert signin.details["method"] == "sso"
    assert signin.details["sso"]["issuer"] == oidc_provider.issuer
    assert signin.details["sso"]["groups"] == ["Finance"]
    assert signin.client_address == "127.0.0.1"


def test_sign_in_links_an_existing_account_by_email_and_honours_next(
    live_server, sso_settings, oidc_provider
):
    linus = UserFactory(username="linus.t", email="LINUS@example.com")
    stale = Group.objects.create(name="Finance")
    linus.groups.add(stale)  # mapped group the provider no longer lists: removed
    kept = Group.objects.create(name="Local only")
    linus.groups.add(kept)  # not managed by the mapping: kept
    browser = requests.Session()

    provider_page = start(live_server, browser, next_url="/api/tokens/")
    landed = provider_sign_in(browser, provider_page, username="linus")

    assert landed.url == f"{live_server.url}/api/tokens/"
    assert User.objects.filter(email__iexact="linus@example.com").count() == 1
    linus.refresh_from_db()
    assert sorted(linus.groups.values_list("name", flat=True)) == ["Local only"]


def test_unverified_email_is_refused_with_a_reason(live_server, sso_settings, oidc_provider):
    browser = requests.Session()

    provider_page = start(live_server, browser)
    landed = provider_sign_in(browser, provider_page, username="eve")

    assert landed.url.startswith(f"{live_server.url}/accounts/login/")
    assert "Single sign-on failed" in landed.text
    assert "not verified the e-mail address" in landed.text
    assert not User.objects.filter(email="eve@example.com").exists()
    failed = AuditEvent.objects.get(action=Action.SIGNIN_FAILED)
    assert failed.details["method"] == "sso"
    assert "verified" in failed.details["reason"]
    assert browser.get(f"{live_server.url}/", timeout=30).url.startswith(
        f"{live_server.url}/accounts/login/"
    )


def test_deactivated_account_cannot_sign_in(live_server, sso_settings, oidc_provider):
    UserFactory(username="grace", email="grace@example.com", is_active=False)
    browser = requests.Session()

    landed = provider_sign_in(browser, start(live_server, browser), username="grace")

    assert "deactivated" in landed.text
    assert AuditEvent.objects.filter(action=Action.SIGNIN).count() == 0
    assert AuditEvent.objects.filter(action=Action.SIGNIN_FAILED).count() == 1


def test_replayed_callback_is_refused(live_server, sso_settings, oidc_provider):
    browser = requests.Session()
    provider_page = start(live_server, browser)
    landed = provider_sign_in(browser, provider_page, username="linus")
    callback = next(r for r in landed.history if "/oidc/callback/" in r.url)
    browser.post(
        f"{live_server.url}/accounts/logout/",
        timeout=30,
        headers={"X-CSRFToken": browser.cookies.get("csrftoken", "")},
    )

    again = browser.get(callback.url, timeout=30)

    assert again.url.startswith(f"{live_server.url}/accounts/login/")
    assert "Single sign-on failed" in again.text


def test_password_sign_in_can_be_switched_off(live_server, sso_settings, oidc_provider):
    sso_settings.LOCAL_PASSWORDS = False
    sso_settings.AUTHENTICATION_BACKENDS = ["config.sso.DocentOIDCBackend"]
    UserFactory(username="ada")
    browser = requests.Session()

    login = browser.get(f"{live_server.url}/accounts/login/", timeout=30)
    assert "Sign in with Test IdP" in login.text
    assert 'name="password"' not in login.text
    assert "Forgot your password" not in login.text
    refused = browser.post(
        f"{live_server.url}/accounts/login/",
        data={
            "username": "ada",
            "password": "correct horse battery staple",
            "csrfmiddlewaretoken": browser.cookies.get("csrftoken", ""),
        },
        headers={"Referer": f"{live_server.url}/accounts/login/"},
        timeout=30,
    )
    assert "sign in with single sign-on" in refused.text
    assert browser.get(f"{live_server.url}/", timeout=30).url.startswith(
        f"{live_server.url}/accounts/login/"
    )
    reset = browser.get(f"{live_server.url}/accounts/password_reset/", timeout=30)
    assert reset.url.startswith(f"{live_server.url}/accounts/login/")

    # The admin's sign-in goes to the provider too, and back to the admin.
    admin = UserFactory(
        username="boss", email="grace@example.com", is_staff=True, is_superuser=True
    )
    to_provider = browser.get(f"{live_server.url}/admin/", timeout=30)
    assert to_provider.url.startswith(oidc_provider.issuer.rsplit("/o", 1)[0])
    landed = provider_sign_in(browser, to_provider, username="grace")
    assert landed.url == f"{live_server.url}/admin/"
    assert "Docent administration" in landed.text
    assert AuditEvent.objects.get(action=Action.SIGNIN).actor_id == admin.pk


def test_unreachable_provider_is_explained_on_the_sign_in_page(live_server, sso_settings):
    sso_settings.OIDC_OP_ISSUER = "http://127.0.0.1:9/nowhere"
    browser = requests.Session()

    page = browser.get(f"{live_server.url}/oidc/authenticate/", timeout=30)

    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    assert "cannot be reached" in page.text


def test_sso_routes_are_404_when_not_configured(client):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    assert b"Sign in with" not in client.get("/accounts/login/").content

"""Sign-in throttling (django-axes, issue 13: 30 wrong passwords on /accounts/login/ and 10 on
/admin/login/ all answered 200 and the right one then signed in)."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def sign_in(client: Client, url: str, username: str, password: str):
    return client.post(url, {"username": username, "password": password})


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_wrong_passwords_lock_the_account_with_a_clear_message(url):
    UserFactory(username="rita", is_staff=True, is_superuser=True)
    client = Client()
    for _ in range(LIMIT - 1):
        assert sign_in(client, url, "rita", "wrong").status_code == 200

    locked = sign_in(client, url, "rita", "wrong")
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert "15 minutes" in locked.content.decode()

    # The right password no longer signs in, from anywhere.
    elsewhere = Client(REMOTE_ADDR="10.0.0.9")
    assert sign_in(elsewhere, url, "rita", PASSWORD).status_code == 429
    assert "_auth_user_id" not in elsewhere.session


def test_one_address_trying_many_accounts_is_locked_out():
    for name in ("a", "b", "c", "d"):
        UserFactory(username=name)
    client = Client(REMOTE_ADDR="192.0.2.7")
    for name in ("a", "b", "c"):
        sign_in(client, "/accounts/login/", name, "wrong")

    assert sign_in(client, "/accounts/login/", "d", PASSWORD).status_code == 429
    # Others sign in as usual.
    other = Client(REMOTE_ADDR="192.0.2.8")
    assert sign_in(other, "/accounts/login/", "d", PASSWORD).status_code == 302


def test_an_admin_lifts_a_lockout_in_the_admin(admin_client):
    UserFactory(username="rita")
    client = Client()
    for _ in range(LIMIT):
        sign_in(client, "/accounts/login/", "rita", "wrong")
    assert sign_in(client, "/accounts/login/", "rita", PASSWORD).status_code == 429

    attempts = admin_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert attempts.status_code == 200
    assert "rita" in attempts.content.decode()
    attempt = AccessAttempt.objects.get(username="rita")
    response = admin_client.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )
    assert response.status_code == 302

    assert sign_in(client, "/accounts/login/", "rita", PASSWORD).status_code == 302


def test_a_success_before_the_limit_resets_the_count():
    UserFactory(username="rita")
    client = Client()
    for _ in range(LIMIT - 1):
        sign_in(client, "/accounts/login/", "rita", "wrong")
    assert sign_in(client, "/accounts/login/", "rita", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(LIMIT - 1):
        assert sign_in(client, "/accounts/login/", "rita", "wrong").status_code == 200
    assert sign_in(client, "/accounts/login/", "rita", PASSWORD).status_code == 302


def test_behind_a_trusted_proxy_the_client_address_comes_from_x_forwarded_for(settings):
    # TRUSTED_PROXY_COUNT=1 in production settings sets these two.
    settings.AXES_IPWARE_PROXY_COUNT = 1
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    for name in ("a", "b", "c", "d"):
        UserFactory(username=name)
    # Every request reaches Docent from the proxy's address; the client is in the header.
    attacker = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.4, 10.0.0.1")
    for name in ("a", "b", "c"):
        sign_in(attacker, "/accounts/login/", name, "wrong")
    assert sign_in(attacker, "/accounts/login/", "d", PASSWORD).status_code == 429

    colleague = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9, 10.0.0.1")
    assert sign_in(colleague, "/accounts/login/", "d", PASSWORD).status_code == 302

"""What Docent adds to mozilla-django-oidc, checked without a provider: the ID-token checks the
library leaves out, usernames, and the group mapping rules."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import Group, User
from django.core.exceptions import SuspiciousOperation
from django.test import RequestFactory

from config.sso import DocentOIDCBackend, groups_sync, username_for
from tests.factories import UserFactory

ISSUER = "https://idp.example.com/realms/staff"


@pytest.fixture
def signing(settings):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings.SSO_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "docent"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_OP_ISSUER = ISSUER
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{ISSUER}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{ISSUER}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{ISSUER}/jwks"  # not read: the key is given below
    settings.OIDC_RP_IDP_SIGN_KEY = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key


def id_token(key, **claims) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": "docent",
        "sub": "42",
        "iat": now,
        "exp": now + 60,
        "nonce": "n-1",
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256")


def backend() -> DocentOIDCBackend:
    instance = DocentOIDCBackend()
    instance._configure()
    instance.request = RequestFactory().get("/oidc/callback/")
    return instance


def test_a_valid_id_token_is_accepted(signing):
    payload = backend().verify_token(id_token(signing), nonce="n-1")
    assert payload["sub"] == "42"


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"aud": "another-app"}, "another application"),
        ({"aud": ["another-app", "more"]}, "another application"),
        ({"iss": "https://evil.example.com"}, "another provider"),
    ],
)
def test_tokens_for_another_app_or_from_another_issuer_are_refused(signing, claims, message):
    with pytest.raises(SuspiciousOperation, match=message):
        backend().verify_token(id_token(signing, **claims), nonce="n-1")


def test_a_token_signed_with_another_key_is_refused(signing):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SuspiciousOperation):
        backend().verify_token(id_token(other), nonce="n-1")


def test_a_replayed_nonce_is_refused(signing):
    with pytest.raises(SuspiciousOperation, match="Nonce"):
        backend().verify_token(id_token(signing), nonce="n-2")


def test_constructing_the_backend_reads_no_settings_and_fetches_nothing(settings):
    settings.OIDC_OP_ISSUER = "http://127.0.0.1:9/unreachable"
    DocentOIDCBackend()  # Django builds one per request of a signed-in SSO user


@pytest.mark.django_db
def test_usernames_come_from_the_claim_and_are_made_unique(settings):
    settings.OIDC_USERNAME_CLAIM = "preferred_username"
    UserFactory(username="grace")
    assert username_for({"preferred_username": "grace", "email": "g@x.org"}, User) == "grace-2"
    assert username_for({"email": "g@x.org"}, User) == "g@x.org"


@pytest.mark.django_db
def test_without_a_map_groups_match_existing_docent_groups_by_name(settings):
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_GROUP_MAP = {}
    Group.objects.create(name="Finance")
    legal = Group.objects.create(name="Legal")
    user = UserFactory()
    user.groups.add(legal)

    assert groups_sync(user=user, claims={"groups": ["Finance", "Unknown"]}) == ["Finance"]

    assert list(user.groups.values_list("name", flat=True)) == ["Finance"]
    assert not Group.objects.filter(name="Unknown").exists()


@pytest.mark.django_db
def test_group_mapping_off_leaves_groups_alone(settings):
    settings.OIDC_GROUPS_CLAIM = ""
    user = UserFactory()
    user.groups.add(Group.objects.create(name="Legal"))

    assert groups_sync(user=user, claims={"groups": []}) is None
    assert user.groups.count() == 1

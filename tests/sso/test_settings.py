"""Single sign-on and audit settings, read from the environment as a deployment sets them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.config.test_settings import environment, load_settings  # noqa: F401

ISSUER = "https://login.example.com/realms/staff"


def test_sso_is_off_and_passwords_on_by_default(environment):  # noqa: F811
    loaded = load_settings()
    assert loaded["SSO_ENABLED"] is False
    assert "config.sso.DocentOIDCBackend" not in loaded["AUTHENTICATION_BACKENDS"]
    assert "django.contrib.auth.backends.ModelBackend" in loaded["AUTHENTICATION_BACKENDS"]


def test_a_client_id_and_issuer_turn_sso_on(environment):  # noqa: F811
    environment.setenv("OIDC_CLIENT_ID", "docent")
    environment.setenv("OIDC_CLIENT_SECRET", "s3cret")
    environment.setenv("OIDC_ISSUER", ISSUER + "/")
    environment.setenv("OIDC_GROUPS_CLAIM", "groups")
    environment.setenv("OIDC_GROUP_MAP", '{"okta-finance": "Finance"}')
    environment.setenv("LOCAL_PASSWORDS", "off")

    loaded = load_settings()

    assert loaded["SSO_ENABLED"] is True
    assert loaded["OIDC_OP_ISSUER"] == ISSUER
    assert loaded["OIDC_GROUP_MAP"] == {"okta-finance": "Finance"}
    assert "config.sso.DocentOIDCBackend" in loaded["AUTHENTICATION_BACKENDS"]
    assert "django.contrib.auth.backends.ModelBackend" not in loaded["AUTHENTICATION_BACKENDS"]


def test_a_client_id_without_an_issuer_is_refused(environment):  # noqa: F811
    environment.setenv("OIDC_CLIENT_ID", "docent")
    with pytest.raises(ImproperlyConfigured, match="OIDC_ISSUER"):
        load_settings()


def test_passwords_off_without_sso_is_refused_so_nobody_is_locked_out(environment):  # noqa: F811
    environment.setenv("LOCAL_PASSWORDS", "0")
    with pytest.raises(ImproperlyConfigured, match="LOCAL_PASSWORDS=0"):
        load_settings()


def test_a_group_map_that_is_not_a_json_object_is_refused(environment):  # noqa: F811
    environment.setenv("OIDC_GROUP_MAP", '["Finance"]')
    with pytest.raises(ImproperlyConfigured, match="OIDC_GROUP_MAP"):
        load_settings()


def test_a_negative_audit_retention_is_refused(environment):  # noqa: F811
    environment.setenv("AUDIT_RETENTION_DAYS", "-1")
    with pytest.raises(ImproperlyConfigured, match="AUDIT_RETENTION_DAYS"):
        load_settings()

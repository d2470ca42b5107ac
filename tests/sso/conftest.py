"""A real OpenID Connect provider for the SSO tests: django-oauth-toolkit in a second process
(tests/sso/provider), on a free port of 127.0.0.1, with an RS256 key generated here. Docent runs
in pytest-django's live server on `localhost`, so the two keep separate cookies."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from config import sso

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "docent"
CLIENT_SECRET = "docent-test-secret"
PASSWORD = "provider password"

PEOPLE = [
    {
        "username": "grace",
        "email": "grace@example.com",
        "password": PASSWORD,
        "first_name": "Grace",
        "last_name": "Hopper",
        "groups": ["okta-finance", "okta-unmapped"],
    },
    {
        "username": "linus",
        "email": "linus@example.com",
        "password": PASSWORD,
        "groups": [],
    },
    {
        "username": "eve",
        "email": "eve@example.com",
        "password": PASSWORD,
        "email_verified": False,
        "groups": ["okta-finance"],
    },
]


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="session")
def oidc_provider(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    folder = tmp_path_factory.mktemp("oidc-provider")
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}/o"
    config = {
        "database": str(folder / "provider.sqlite3"),
        "issuer": issuer,
        "port": port,
        "rsa_private_key": _private_key_pem(),
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uri": f"{live_server.url}/oidc/callback/",
            }
        ],
        "people": PEOPLE,
    }
    (folder / "config.json").write_text(json.dumps(config))
    log = folder / "provider.log"
    env = {**os.environ, "SSO_PROVIDER_CONFIG": str(folder / "config.json")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.sso.provider.serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    provider = Provider(issuer=issuer, process=process, log=log)
    try:
        _wait_until_up(provider)
        yield provider
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(provider: Provider) -> None:
    deadline = time.monotonic() + 120
    url = f"{provider.issuer}/.well-known/openid-configuration"
    while time.monotonic() < deadline:
        if provider.process.poll() is not None:
            raise RuntimeError(f"The test provider exited:\n{provider.log.read_text()}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"The test provider did not start:\n{provider.log.read_text()}")


@pytest.fixture
def sso_settings(settings: Any, oidc_provider: Provider) -> Any:
    """Docent configured for the provider as an administrator would, by its settings."""
    settings.SSO_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_ISSUER = oidc_provider.issuer
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_GROUP_MAP = {"okta-finance": "Finance"}
    settings.SSO_LABEL = "Test IdP"
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "config.sso.DocentOIDCBackend",
    ]
    # The live server speaks plain HTTP.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    sso.forget_provider_metadata()
    yield settings
    sso.forget_provider_metadata()


def provider_sign_in(
    browser: requests.Session, page: requests.Response, *, username: str
) -> requests.Response:
    """Fill in the provider's own sign-in form, as a person would, and follow the redirects."""
    assert "Test identity provider" in page.text, page.text[:500]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    next_field = re.search(r'name="next" value="([^"]*)"', page.text)
    assert token
    assert next_field
    return browser.post(
        page.url.split("?")[0],
        data={
            "csrfmiddlewaretoken": token.group(1),
            "username": username,
            "password": PASSWORD,
            "next": next_field.group(1).replace("&amp;", "&"),
        },
        headers={"Referer": page.url},
        timeout=30,
    )

"""`dev.py run` is safe as the main job (issue 13: it served with DEBUG=1, so any error page
showed a traceback and every URL pattern): DEBUG is off unless asked for, static files are
still served."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev():
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_serves_without_debug_by_default(dev):
    assert dev.run_environment([], {})["DEBUG"] == "0"
    assert dev.run_environment([], {"DEBUG": ""})["DEBUG"] == "0"


def test_debug_on_request(dev):
    assert dev.run_environment(["--debug"], {})["DEBUG"] == "1"
    assert dev.run_environment([], {"DEBUG": "1"})["DEBUG"] == "1"
    assert dev.run_environment(["--debug"], {"DEBUG": "0"})["DEBUG"] == "1"


def test_unknown_options_are_refused(dev):
    with pytest.raises(SystemExit, match="unknown option --debgu"):
        dev.run_environment(["--debgu"], {})


def test_cookies_are_secure_behind_https_and_usable_over_plain_http(dev):
    plain = dev.run_environment([], {})
    assert (plain["SESSION_COOKIE_SECURE"], plain["CSRF_COOKIE_SECURE"]) == ("0", "0")
    https = dev.run_environment([], {"SITE_URL": "https://docent.example.com"})
    assert "SESSION_COOKIE_SECURE" not in https  # the settings' default: secure
    chosen = dev.run_environment([], {"SESSION_COOKIE_SECURE": "1"})
    assert chosen["SESSION_COOKIE_SECURE"] == "1"


@pytest.mark.django_db
def test_without_debug_errors_show_no_traceback_and_static_files_are_served(client, settings):
    assert settings.DEBUG is False
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert b"URLconf" not in missing.content
    assert b"Traceback" not in missing.content
    static = client.get("/static/css/docent.css")
    assert static.status_code == 200
    b"".join(static.streaming_content)


# --- mail -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("backend", "warned"),
    [
        ("django.core.mail.backends.console.EmailBackend", "printed to the web server"),
        ("django.core.mail.backends.smtp.EmailBackend", ""),
    ],
)
def test_the_admin_warns_while_mail_is_not_configured(admin_client, settings, backend, warned):
    settings.EMAIL_BACKEND = backend
    if hasattr(settings, "MAILERS"):
        settings.MAILERS = {"default": {"BACKEND": backend, "OPTIONS": {}}}
    html = admin_client.get("/admin/").content.decode()
    if warned:
        assert "Mail is not configured" in html
        assert warned in html
        assert "EMAIL_HOST" in html
    else:
        assert "Mail is not configured" not in html

"""Content-Security-Policy on every page, with templates that need nothing inline; uploaded
originals readable by the service's user alone (issue 13)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from documents import services

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/", "/api/docs"])
def test_pages_carry_a_strict_content_security_policy(client, url):
    response = client.get(url)
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


def test_signed_in_pages_carry_it_too(as_reader, corpus):
    for url in ("/", "/c/policies/", "/c/policies/documents/", "/api/tokens/"):
        response = as_reader.get(url)
        assert response.status_code == 200, url
        assert "script-src 'self'" in response["Content-Security-Policy"], url


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.I)


@pytest.mark.parametrize("path", sorted((ROOT / "templates").rglob("*.html")), ids=str)
def test_templates_have_no_inline_script_handler_or_style(path):
    text = path.read_text()
    assert not INLINE_SCRIPT.search(text)
    assert not HANDLER.search(text)
    assert not STYLE_ATTRIBUTE.search(text)
    assert "<style" not in text


def test_uploaded_originals_are_private_to_the_service_user(settings, tmp_path, fixture_docs):
    settings.MEDIA_ROOT = tmp_path / "media"
    corpus = services.corpus_create(name="Handbook", slug="handbook")
    document = services.document_upload_path(
        corpus=corpus,
        path=fixture_docs
        / "markdown"
        / sorted(p.name for p in (fixture_docs / "markdown").iterdir())[0],
    ).document

    path = Path(document.file.path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    folder = path.parent
    while folder != settings.MEDIA_ROOT.parent:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        folder = folder.parent

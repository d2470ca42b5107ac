"""CORS as a browser enforces it: a chat UI on another origin calls Docent's /v1 from headless
Chromium (Debian's, never downloaded) with the headers the OpenAI SDKs send, and reads the
answer and its x-request-id; an origin not in CORS_ALLOWED_ORIGINS is blocked by the browser."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from tests.api.conftest import make_corpora, make_people, token_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
# Both on this machine, like Docent here: Chromium's local-network checks stay out of the way
# (they would also stop a public page from calling 127.0.0.1; that is not what is tested).
CHAT_UI = "http://localhost:8801"
OTHER_UI = "http://localhost:8802"

FETCH = """async ([url, token]) => {
  try {
    const response = await fetch(url + "/v1/chat/completions", {
      method: "POST",
      headers: {
        "Authorization": "Bearer " + token,
        "Content-Type": "application/json",
        "X-Stainless-OS": "Linux",
        "X-Stainless-Lang": "js",
        "X-Stainless-Retry-Count": "0",
      },
      body: JSON.stringify({
        model: "policies",
        messages: [{role: "user", content: "How much is the meal allowance abroad?"}],
      }),
    });
    const body = await response.json();
    return {status: response.status, requestId: response.headers.get("x-request-id"),
            content: body.choices[0].message.content};
  } catch (error) {
    return {error: String(error)};
  }
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def cors_app(django_db_setup, fake_openai_server, tmp_path_factory) -> Iterator[str]:
    """The app under uvicorn with CORS_ALLOWED_ORIGINS set to the chat UI's origin."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"BROWSER CORS TEST SKIPPED: no Chromium at {CHROMIUM} (set CHROMIUM_PATH)")
    db = connection.settings_dict
    host = quote(db["HOST"], safe="") if db["HOST"] else "localhost"
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    tmp = tmp_path_factory.mktemp("cors_app")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "SECRET_KEY": "cors-test-key",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "MEDIA_ROOT": str(tmp / "media"),
        "CELERY_BROKER_URL": "memory://",
        "CHAT_COMPLETIONS_BASE_URL": fake_openai_server.base_url,
        "CHAT_COMPLETIONS_API_KEY": "test",
        "CHAT_COMPLETIONS_MODEL": "fake-chat",
        "OPENAI_MAX_RETRIES": "0",
        "API_RATE_LIMIT_PER_MINUTE": "0",
        "CORS_ALLOWED_ORIGINS": CHAT_UI,
    }
    log_path = tmp / "uvicorn.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def page_at(cors_app):
    """A page whose origin is `origin` (its HTML served by Playwright, every other request,
    Docent's included, going over the network as usual)."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright runs a loop in this thread
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,"
                "PrivateNetworkAccessRespectPreflightResults",
            ],
        )

        def open_page(origin: str):
            page = browser.new_page()
            page.route(
                f"{origin}/**",
                lambda route: route.fulfill(content_type="text/html", body="<h1>Chat</h1>"),
            )
            page.goto(f"{origin}/")
            return page

        try:
            yield open_page
        finally:
            browser.close()
            if previous is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def test_a_chat_ui_on_an_allowed_origin_gets_answers_and_only_it(cors_app, page_at, fake_openai):
    people = make_people()
    make_corpora(people)
    token = token_for(people.reader)

    allowed = page_at(CHAT_UI).evaluate(FETCH, [cors_app, token])
    assert allowed.get("status") == 200, allowed
    assert "45 euros" in allowed["content"]
    assert allowed["requestId"].startswith("req_")  # exposed to the page's script

    blocked = page_at(OTHER_UI).evaluate(FETCH, [cors_app, token])
    assert "error" in blocked, blocked  # the browser refuses the preflight: "Failed to fetch"

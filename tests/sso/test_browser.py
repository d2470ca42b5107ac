"""Single sign-on in headless Chromium: the button on Docent's sign-in page, the provider's
form, and back, signed in, with no Content-Security-Policy violation on the way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from documents import services as document_services
from documents.models import CorpusMembership, Role
from tests.sso.conftest import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's ORM calls need this.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def test_sign_in_with_the_provider_in_a_browser(browser, live_server, sso_settings):
    finance = Group.objects.create(name="Finance")
    ledger = document_services.corpus_create(name="Ledger", slug="ledger")
    CorpusMembership.objects.create(corpus=ledger, group=finance, role=Role.READER)
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content-Security-Policy" in message.text else None
        ),
    )
    failed: list[str] = []
    page.on(
        "response",
        lambda response: (
            failed.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.url.startswith(live_server.url)
            else None
        ),
    )

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.wait_for_selector("text=Test identity provider")
    page.fill("#id_username", "grace")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/**")

    assert "/accounts/login/" not in page.url
    assert page.get_by_text("Ledger").first.is_visible()
    assert User.objects.get(email="grace@example.com").groups.filter(name="Finance").exists()
    assert problems == []
    assert failed == []
    page.close()

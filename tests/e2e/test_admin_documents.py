"""The admin's document list while files are processed: rows refresh in place (no reload, the
ticked boxes stay ticked) until each document is ready."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import TIMEOUT_MS
from tests.e2e.test_browser import HANDBOOK
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SMALL_LAPTOP = {"width": 1366, "height": 768}


def test_the_document_list_refreshes_rows_in_place(
    live_app, browser, corpus, screenshots, tmp_path
):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    context = browser.new_context(viewport=SMALL_LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{live_app.url}/admin/login/")
        page.get_by_label("Username").fill("root")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_app.url}/admin/")
        # Through the admin's own upload page, so that the app's worker gets the messages.
        paths = []
        for name, text in [("Leave policy 2026.md", HANDBOOK), ("notes.txt", "Office hours.\n")]:
            paths.append(tmp_path / name)
            paths[-1].write_text(text)
        page.goto(f"{live_app.url}/admin/documents/document/upload/")
        page.get_by_label("Corpus").select_option(label=str(corpus))
        page.get_by_label("Files").set_input_files([str(path) for path in paths])
        page.get_by_role("button", name="Upload", exact=True).click()
        page.wait_for_url(re.compile(r"/admin/documents/document/\?corpus__id__exact="))
        messages = page.locator("ul.messagelist li")
        assert messages.count() == 1
        assert messages.inner_text() == (
            "2 files uploaded, queued for processing: Leave policy 2026.md, notes.txt."
        )
        # The worker takes seconds per file: the rows are still queued or being processed.
        assert page.locator(".doc-badge[data-final=false]").count() >= 1
        page.evaluate("window.notReloaded = true")
        row = page.locator("#result_list tbody tr", has_text="Leave policy 2026.md")
        row.locator("input.action-select").check()
        for name in ("Leave policy 2026.md", "notes.txt"):
            badge = page.locator("#result_list tbody tr", has_text=name).locator(".doc-badge")
            badge.filter(has_text="Ready").wait_for()
        assert page.evaluate("window.notReloaded === true"), "the page was reloaded"
        assert row.locator("input.action-select").is_checked()
        assert row.locator("td.field-page_count").inner_text() == "1"
        badge = row.locator(".doc-badge")
        height = badge.evaluate("b => b.getBoundingClientRect().height")
        line = badge.evaluate("b => parseFloat(getComputedStyle(b).lineHeight) || 20")
        assert height < line * 1.8, "the status badge wraps"
        filters = page.locator("#changelist-filter").inner_text()
        assert "Markdown" in filters
        assert "text/markdown" not in filters
        page.screenshot(path=screenshots / "15-admin-documents.png")
        assert errors == [], errors
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(live_app.logs())
        raise
    finally:
        context.close()

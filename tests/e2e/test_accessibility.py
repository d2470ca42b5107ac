"""axe-core in Chromium on the chat, documents and viewer pages, light and dark: no serious or
critical violation. Also screenshots of the dark theme and of the admin's document list."""

from __future__ import annotations

import io
import re

import pytest

from documents import services as document_services
from documents.models import Role
from tests.e2e.conftest import LAPTOP, TIMEOUT_MS, accessibility_problems, ask, member, sign_in
from tests.e2e.test_browser import HANDBOOK

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chat_documents_and_viewer_pages_pass_axe(
    live_app, browser, corpus, screenshots, tmp_path, scheme
):
    member(corpus, "ada", Role.CONTRIBUTOR)
    outcome = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(HANDBOOK.encode()), filename="Staff handbook.md"
    )
    document_services.document_ingest(document_id=outcome.document.pk)
    context = browser.new_context(viewport=LAPTOP, color_scheme=scheme)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: dict[str, list[str]] = {}
    try:
        sign_in(page, live_app, "ada")
        page.goto(f"{live_app.url}/c/handbook/")
        problems["new chat"] = accessibility_problems(page)

        ask(page, "How many days of paid leave do employees get?")
        page.wait_for_url(re.compile(r"/c/handbook/conversations/\d+/$"))
        answer = page.locator("article.answer").last
        answer.get_by_role("button", name="Regenerate").wait_for()
        problems["chat with an answer"] = accessibility_problems(page)
        if scheme == "dark":
            page.screenshot(path=screenshots / "10-chat-dark.png")

        answer.locator("a.cite").first.click()
        page.locator("mark#passage").wait_for()
        problems["viewer"] = accessibility_problems(page)

        page.goto(f"{live_app.url}/c/handbook/documents/")
        page.locator("tr[data-document-row] .badge-ready").wait_for()
        problems["documents"] = accessibility_problems(page)
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(live_app.logs())
        raise
    finally:
        context.close()
    found = {name: lines for name, lines in problems.items() if lines}
    report = [f"{name}: {line}" for name, lines in found.items() for line in lines]
    assert not found, "\n".join(report)

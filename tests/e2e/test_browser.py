"""End to end in headless Chromium against the real app (tests/e2e/conftest.py starts it).

Screenshots of the main screens are written to docs/screenshots/ on every run.
"""

from __future__ import annotations

import io
import re
import shutil

import pytest

from chat.models import Conversation, Feedback, Message
from documents import services as document_services
from documents.models import Role
from tests.conftest import FIXTURE_DOCS, PASSWORD
from tests.e2e.conftest import LAPTOP, PHONE, TIMEOUT_MS, ask, drop_files, member, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HANDBOOK = """# Staff handbook

## Annual leave

Every employee has thirty days of paid leave per calendar year.
Leave must be requested in the HR portal at least two weeks before it starts.
Unused leave can be carried over until the end of March of the following year.

## Working from home

Staff may work from home up to three days per week after agreeing it with their manager.
The company pays a monthly allowance of 25 euros towards internet costs at home.

## Expenses

Meal expenses are reimbursed up to 45 euros per day when travelling abroad.
Receipts must be uploaded within thirty days of the end of the trip.
"""


def drop_file(page, selector: str, name: str, text: str, mime: str) -> None:
    drop_files(page, selector, [(name, text.encode(), mime)])


def document_row(page, filename: str):
    return page.locator("tr[data-document-row]", has_text=filename)


def test_a_contributor_uploads_asks_follows_a_citation_and_gives_feedback(
    live_app, browser, corpus, screenshots, tmp_path
):
    member(corpus, "carla", Role.CONTRIBUTOR)
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        # Sign in.
        page.goto(f"{live_app.url}/c/handbook/")
        page.wait_for_url(re.compile(r"/accounts/login/\?next=/c/handbook/"))
        page.screenshot(path=screenshots / "01-sign-in.png")
        page.get_by_label("Username").fill("carla")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_app.url}/c/handbook/")

        # Upload: one file dropped, one chosen with the file picker; watch both get ready.
        page.get_by_role("link", name="Documents", exact=True).click()
        page.wait_for_url(f"{live_app.url}/c/handbook/documents/")
        drop_file(page, "[data-dropzone]", "handbook.md", HANDBOOK, "text/markdown")
        pdf = tmp_path / "typesetting-sample.pdf"
        shutil.copy(FIXTURE_DOCS / "pdf-basic" / "pdflatex-4-pages.pdf", pdf)
        page.locator("[data-file-input]").set_input_files(str(pdf))
        # Catch a document while it is being processed (or, if the worker is quicker, done).
        page.wait_for_function(
            """() => document.querySelectorAll("tr[data-document-row]").length === 2 && (
                document.querySelector("tr.status-processing[data-document-row]")
                || document.querySelectorAll("tr[data-document-row] .badge-ready").length === 2)"""
        )
        page.screenshot(path=screenshots / "03-upload-progress.png")
        for filename in ("handbook.md", "typesetting-sample.pdf"):
            document_row(page, filename).locator(".badge-ready").wait_for()
        assert "Ready: 1 page" in document_row(page, "handbook.md").inner_text()
        assert "Ready: 4 pages" in document_row(page, "typesetting-sample.pdf").inner_text()
        page.screenshot(path=screenshots / "03b-upload-ready.png")

        # Ask: the answer streams in, with a citation; the URL becomes the conversation's.
        page.get_by_role("link", name="Ask a question").click()
        page.wait_for_url(f"{live_app.url}/c/handbook/")
        ask(page, "How many days of paid leave do employees get?")
        page.wait_for_url(re.compile(r"/c/handbook/conversations/\d+/$"))
        answer = page.locator("article.answer").last
        answer.locator(".answer-footer").wait_for()
        conversation_url = page.url
        assert "thirty days of paid leave" in answer.locator(".answer-body").inner_text()
        assert answer.locator("a.cite").count() >= 1
        assert "handbook.md" in answer.locator(".sources").inner_text()
        assert "Answered from your documents" in answer.locator(".answer-strategy").inner_text()
        assert page.locator("[data-conversation-list] a[aria-current=page]").count() == 1
        page.screenshot(path=screenshots / "04-chat-answer.png")

        # Follow the citation to the highlighted passage.
        answer.locator("a.cite").first.click()
        page.wait_for_url(re.compile(r"/c/handbook/documents/\d+/\?page=1&start=\d+&end=\d+"))
        mark = page.locator("mark#passage")
        assert "thirty days of paid leave" in mark.inner_text()
        in_view = "m => { const r = m.getBoundingClientRect(); return r.bottom <= innerHeight; }"
        assert mark.evaluate(in_view)
        page.screenshot(path=screenshots / "05-viewer-highlight.png")

        # Back in the same conversation, ask a follow-up.
        page.go_back()
        page.wait_for_url(conversation_url)
        page.locator("article.answer").first.wait_for()
        ask(page, "How early must leave be requested?")
        page.locator("article.answer").nth(1).locator(".answer-footer").wait_for()
        follow_up = page.locator("article.answer").nth(1)
        assert "two weeks" in follow_up.locator(".answer-body").inner_text()
        assert page.url == conversation_url
        conversation = Conversation.objects.get()
        assert conversation.messages.count() == 4
        assert str(conversation.pk) in conversation_url

        # Thumbs down with a comment.
        follow_up.get_by_role("button", name="Not helpful").click()
        comment = follow_up.get_by_label("What was good, wrong or missing? (optional)")
        comment.wait_for()
        comment.fill("It should say where the HR portal is.")
        follow_up.get_by_role("button", name="Send comment").click()
        follow_up.get_by_text("Thanks, your comment was saved.").wait_for()
        feedback = Feedback.objects.get()
        assert feedback.rating == "down"
        assert feedback.comment == "It should say where the HR portal is."
        assert feedback.message == Message.objects.filter(role="assistant").order_by("id").last()
        assert (
            follow_up.get_by_role("button", name="Not helpful").get_attribute("aria-pressed")
            == "true"
        )

        # Rename inline.
        page.get_by_text("Rename", exact=True).click()
        page.get_by_label("New title").fill("Leave questions")
        page.get_by_label("New title").press("Enter")
        page.locator("[data-chat-title]", has_text="Leave questions").wait_for()
        conversation.refresh_from_db()
        assert conversation.title == "Leave questions"

        # Regenerate the last answer: the earlier one stays readable; copy the new one.
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.url)
        page.locator("article.answer").last.get_by_role("button", name="Regenerate").click()
        earlier = page.locator("article.answer").last.locator("details", has_text="Earlier answer")
        earlier.wait_for()
        page.locator("article.answer").last.get_by_role("button", name="Regenerate").wait_for()
        earlier.locator("summary").click()
        assert "two weeks" in earlier.inner_text()
        page.locator("article.answer").last.locator("[data-copy=markdown]").click()
        page.locator("article.answer").last.get_by_text("Copied").wait_for()
        assert "two weeks" in page.evaluate("navigator.clipboard.readText()")
        page.screenshot(path=screenshots / "12-regenerate-earlier-copy.png")

        # The PDF's page image next to its text.
        pdf_document = corpus.documents.get(filename="typesetting-sample.pdf")
        page_two = pdf_document.pages.get(number=2)
        start = page_two.char_start + page_two.text.index("A blind text")
        page.goto(
            f"{live_app.url}/c/handbook/documents/{pdf_document.pk}/"
            f"?page=2&start={start}&end={start + 120}#passage"
        )
        image = page.locator(".page-image img")
        image.wait_for()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        page.screenshot(path=screenshots / "06-viewer-pdf.png")

        # Home, with readiness.
        page.goto(f"{live_app.url}/")
        assert "2 documents ready" in page.locator(".corpus-card").inner_text()
        page.screenshot(path=screenshots / "02-home.png")

        # A phone: the conversation, and the sidebar behind its button.
        phone = browser.new_context(
            viewport=PHONE, storage_state=context.storage_state(), is_mobile=True, has_touch=True
        )
        phone_page = phone.new_page()
        phone_page.goto(conversation_url)
        phone_page.locator("article.answer").first.wait_for()
        assert not phone_page.locator("[data-sidebar]").is_visible()
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways ({width} px)"
        phone_page.screenshot(path=screenshots / "07-chat-phone.png")
        phone_page.get_by_role("button", name="Conversations").click()
        assert phone_page.locator("[data-sidebar]").is_visible()
        phone_page.screenshot(path=screenshots / "08-chat-phone-sidebar.png")
        phone.close()
        assert errors == [], errors
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(live_app.logs())
        raise
    finally:
        context.close()


def test_an_outsider_cannot_reach_the_corpus_or_anything_in_it(
    live_app, browser, corpus, settings, screenshots
):
    settings.MEDIA_ROOT = live_app.media_root
    owner = member(corpus, "ingrid", Role.MANAGER)
    UserFactory(username="otto")
    outcome = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(HANDBOOK.encode()), filename="handbook.md"
    )
    conversation = Conversation.objects.create(
        corpus=corpus, user=owner, strategy="manual_retrieval"
    )
    document_id = outcome.document.pk
    urls = [
        "/c/handbook/",
        f"/c/handbook/conversations/{conversation.pk}/",
        "/c/handbook/documents/",
        f"/c/handbook/documents/{document_id}/?page=1",
        f"/c/handbook/documents/{document_id}/download",
    ]
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        # The owner can download it: the outsider's 404 is about access, not a missing file.
        sign_in(page, live_app, "ingrid")
        response = page.request.get(f"{live_app.url}{urls[-1]}")
        assert response.status == 200
        assert response.headers["content-disposition"] == 'attachment; filename="handbook.md"'
        context.clear_cookies()

        sign_in(page, live_app, "otto")
        assert "Staff handbook" not in page.locator("main").inner_text()
        for url in urls[:-1]:
            response = page.goto(f"{live_app.url}{url}")
            assert response.status == 404, url
            assert "This page isn't here" in page.locator("h1").inner_text()
        assert page.request.get(f"{live_app.url}{urls[-1]}").status == 404
        page.goto(f"{live_app.url}{urls[0]}")
        page.screenshot(path=screenshots / "09-not-found.png")
    finally:
        context.close()


def test_a_refused_upload_says_why_and_can_be_dismissed(live_app, browser, corpus):
    member(corpus, "cora", Role.CONTRIBUTOR)
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(page, live_app, "cora")
        page.goto(f"{live_app.url}/c/handbook/documents/")
        drop_file(page, "[data-dropzone]", "<i>empty</i>.txt", "", "text/plain")
        row = page.locator("tr.document-row", has_text="<i>empty</i>.txt")  # not a document
        row.get_by_text("Not uploaded").wait_for()
        assert "<i>empty</i>.txt is empty (0 bytes); nothing to index." in row.inner_text()
        assert not row.get_by_text("Sending the file…").is_visible()
        row.get_by_role("button", name="Dismiss").click()
        assert row.count() == 0
        assert errors == [], errors
    finally:
        context.close()

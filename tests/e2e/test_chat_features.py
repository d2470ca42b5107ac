"""The citation preview (hover and tap), the "not found" answer and conversation search, in
headless Chromium against the running app (tests/e2e/conftest.py starts it).

Every wait is on what the page shows (Playwright's `expect` retries until it holds or
TIMEOUT_MS passes), so a slow machine makes these tests slower, not flaky. Screenshots go to
docs/screenshots/.
"""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect

from chat.models import Conversation, Message, MessageRole
from documents import services as document_services
from documents.models import Role
from tests.e2e.conftest import LAPTOP, PHONE, TIMEOUT_MS, answered, browser_page, member, sign_in
from tests.e2e.test_browser import HANDBOOK

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _ready_handbook(corpus) -> None:
    outcome = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(HANDBOOK.encode()), filename="handbook.md"
    )
    document_services.document_ingest(document_id=outcome.document.pk)


def test_hovering_or_tapping_a_citation_previews_its_passage(
    live_app, browser, corpus, screenshots, tmp_path
):
    member(corpus, "petra", Role.READER)
    _ready_handbook(corpus)
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    phone = None
    try:
        sign_in(page, live_app, "petra")
        page.goto(f"{live_app.url}/c/handbook/")
        answer = answered(page, "How many days of paid leave do employees get?")
        expect(page).to_have_url(re.compile(r"/c/handbook/conversations/\d+/$"))
        conversation_url = page.url
        marker = answer.locator("a.cite").first
        number = marker.inner_text().strip()
        source = answer.locator(f".sources li[data-source='{number}']")
        quote = source.locator(".source-quote").inner_text()
        assert "thirty days of paid leave" in quote
        preview = page.locator("[data-citation-preview]")
        expect(preview).to_be_hidden()

        # Hover: document, page and quote of that source, without leaving the chat.
        marker.hover()
        expect(preview).to_be_visible()
        expect(preview.locator(".preview-document")).to_have_text("handbook.md, page 1")
        expect(preview.locator("q")).to_have_text(quote)
        expect(preview.get_by_role("link")).to_have_count(0)  # a click follows the marker
        expect(marker).to_have_attribute("aria-describedby", "citation-preview")
        expect(answer.locator(".sources")).to_be_visible()  # the Sources list stays
        expect(source).to_contain_text("handbook.md")
        page.screenshot(path=screenshots / "11-citation-preview.png")
        page.mouse.move(5, LAPTOP["height"] - 5)
        expect(preview).to_be_hidden()
        expect(marker).not_to_have_attribute("aria-describedby", "citation-preview")

        # Keyboard: focusing the marker shows it too; Escape hides it.
        marker.focus()
        expect(preview).to_be_visible()
        page.keyboard.press("Escape")
        expect(preview).to_be_hidden()
        assert page.url == conversation_url

        # A phone: a tap shows the preview with a link, and does not leave the chat.
        phone = browser.new_context(
            viewport=PHONE, storage_state=context.storage_state(), is_mobile=True, has_touch=True
        )
        phone.set_default_timeout(TIMEOUT_MS)
        phone_page = phone.new_page()
        phone_page.on("pageerror", lambda error: errors.append(str(error)))
        phone_page.goto(conversation_url)
        phone_marker = phone_page.locator("article.answer a.cite").first
        phone_preview = phone_page.locator("[data-citation-preview]")
        phone_marker.tap()
        expect(phone_preview).to_be_visible()
        expect(phone_preview.locator(".preview-document")).to_have_text("handbook.md, page 1")
        expect(phone_preview.locator("q")).to_have_text(quote)
        expect(phone_page.locator("article.answer .sources").first).to_be_visible()
        assert phone_page.url == conversation_url
        open_link = phone_preview.get_by_role("link", name="Open in the document")
        expect(open_link).to_have_attribute(
            "href", live_app.url + phone_marker.get_attribute("href")
        )
        # A tap elsewhere closes it; the link opens the highlighted passage.
        phone_page.locator("[data-chat-title]").tap()
        expect(phone_preview).to_be_hidden()
        phone_marker.tap()
        phone_preview.get_by_role("link", name="Open in the document").tap()
        expect(phone_page).to_have_url(re.compile(r"/c/handbook/documents/\d+/\?page=1&start="))
        expect(phone_page.locator("mark#passage")).to_contain_text("thirty days of paid leave")
        assert errors == [], errors
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(live_app.logs())
        raise
    finally:
        if phone is not None:
            phone.close()
        context.close()


def test_a_question_the_documents_do_not_cover_gets_a_distinct_not_found_answer(
    live_app, browser, corpus, screenshots, tmp_path
):
    member(corpus, "nora", Role.READER)
    _ready_handbook(corpus)
    with browser_page(browser, live_app, tmp_path) as (page, errors):
        sign_in(page, live_app, "nora")
        page.goto(f"{live_app.url}/c/handbook/")
        covered = answered(page, "How many days of paid leave do employees get?")
        expect(covered).not_to_have_class(re.compile(r"\banswer-not-found\b"))
        expect(covered.locator(".answer-badge")).to_have_count(0)
        expect(covered.locator(".sources h3")).to_have_text("Sources")

        answer = answered(page, "Which Kubernetes version runs the Jenkins build servers?")
        expect(page.locator("article.answer")).to_have_count(2)
        expect(answer).to_have_class(re.compile(r"\banswer-not-found\b"))
        expect(answer.locator(".answer-badge")).to_have_text("Not found in the documents")
        expect(answer.locator(".answer-body")).to_contain_text(
            "I could not find this in the documents of “Staff handbook”."
        )
        expect(answer.locator(".answer-strategy")).to_have_text("Searched your documents")
        # What came nearest is shown for the reader to judge, under its own heading.
        related = answer.locator(".sources")
        expect(related.locator("h3")).to_have_text("Possibly related")
        expect(related.locator("li[data-source]").first).to_contain_text("handbook.md")
        assert related.locator("li[data-source]").count() >= 1
        page.screenshot(path=screenshots / "14-not-found-answer.png")

        # The stored answer shows the same state after a reload.
        page.reload()
        stored = page.locator("article.answer").last
        expect(stored.locator(".answer-badge")).to_have_text("Not found in the documents")
        expect(stored.locator(".sources h3")).to_have_text("Possibly related")
        expect(page.locator("article.answer").first.locator(".answer-badge")).to_have_count(0)
        assert errors == [], errors


def _conversation(corpus, user, title: str, question: str, answer: str) -> Conversation:
    conversation = Conversation.objects.create(
        corpus=corpus, user=user, strategy="manual_retrieval", title=title
    )
    asked = Message.objects.create(
        conversation=conversation, role=MessageRole.USER, content=question
    )
    Message.objects.create(
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        content=answer,
        reply_to=asked,
        strategy="manual_retrieval",
    )
    return conversation


def test_the_sidebar_searches_titles_questions_and_answers_of_ones_own_conversations(
    live_app, browser, corpus, screenshots, tmp_path
):
    sam = member(corpus, "sam", Role.READER)
    other = member(corpus, "olga", Role.READER)
    leave = _conversation(
        corpus,
        sam,
        "Leave questions",
        "How many days of paid leave do employees get?",
        "Every employee has thirty days of paid leave per calendar year.",
    )
    _conversation(
        corpus,
        sam,
        "Working from home",
        "May I work from home on Fridays?",
        "Staff may work from home up to three days per week; the internet allowance is "
        "25 euros a month.",
    )
    _conversation(
        corpus,
        sam,
        "Travel",
        "What can I claim for meals abroad?",
        "Meal expenses are reimbursed up to 45 euros per day.",
    )
    _conversation(corpus, other, "Olga's allowance", "Allowance for euros?", "Olga's answer.")
    with browser_page(browser, live_app, tmp_path) as (page, errors):
        sign_in(page, live_app, "sam")
        page.goto(f"{live_app.url}/c/handbook/conversations/{leave.pk}/")
        items = page.locator("[data-conversation-list] [data-conversation-item]")
        titles = items.locator("[data-item-title]")
        status = page.locator("[data-search-status]")
        field = page.get_by_role("searchbox", name="Search your conversations")
        expect(titles).to_have_text(["Travel", "Working from home", "Leave questions"])

        # A word only in an answer; another person's conversation with it is not listed.
        field.fill("allowance")
        expect(titles).to_have_text(["Working from home"])
        expect(status).to_have_text("1 conversation matches.")

        # Every word must be found, in the title, a question or an answer.
        field.fill("euros")
        expect(titles).to_have_text(["Travel", "Working from home"])
        expect(status).to_have_text("2 conversations match.")
        field.fill("euros meals")
        expect(titles).to_have_text(["Travel"])
        page.screenshot(path=screenshots / "13-conversation-search.png")

        # The open conversation stays marked when it is among the results.
        field.fill("LEAVE")
        expect(titles).to_have_text(["Leave questions"])
        expect(items.locator("a[aria-current=page]")).to_have_text(re.compile("Leave questions"))

        field.fill("parking")
        expect(items).to_have_count(0)
        expect(page.locator("[data-conversation-empty]")).to_have_text(
            "No conversation matches “parking”."
        )
        expect(status).to_have_text("0 conversations match.")

        field.fill("")
        expect(titles).to_have_text(["Travel", "Working from home", "Leave questions"])
        expect(status).to_have_text("")
        # The search changed the list, not the page.
        assert page.url == f"{live_app.url}/c/handbook/conversations/{leave.pk}/"
        expect(page.locator("[data-chat-title]")).to_have_text("Leave questions")
        assert errors == [], errors

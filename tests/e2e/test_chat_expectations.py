"""What issue 15 asks to see in a browser: editing and resending the last question, Retry after a
Stop or a failure, the copy buttons, rename and delete from a sidebar item, the title of a
stopped first turn, the dark-mode toggle, the character counter, and the bugs fixed before (one
sidebar entry per conversation, no text kept from a Stop while searching, /favicon.ico, a
spreadsheet marker's spoken label), in headless Chromium against the running app.

Most tests use the app of tests/e2e/conftest.py, whose answers are extractive. Stop and failure
need an answer that takes its time or breaks: `model_app` is one more web process whose chat
model is the fake OpenAI server (tests/fakes/openai_server), slowed or failed per test.

Every wait is on what the page shows (Playwright's `expect`); screenshots go to docs/screenshots/.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import openpyxl
import pytest
from playwright.sync_api import expect

from chat.models import Conversation, Message, MessageRole, MessageStatus
from documents import services as document_services
from documents.models import Role
from tests.e2e.conftest import answered, app_env, ask, browser_page, member, sign_in, web_process
from tests.e2e.test_browser import HANDBOOK
from tests.e2e.test_chat_features import _conversation

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LEAVE = "How many days of paid leave do employees get?"
LEAVE_REPLY = "Every employee has thirty days of paid leave per calendar year [1]."
CHAT_MODEL = r"/chat/completions"


@pytest.fixture(scope="module")
def model_app(django_db_setup, tmp_path_factory, chromium_path, fake_openai_server) -> Iterator:
    """A web process whose answers come from the fake OpenAI server (no retries, so a failure
    the test asks for is the answer's)."""
    base = tmp_path_factory.mktemp("model-app")
    env = app_env(
        base,
        CHAT_COMPLETIONS_BASE_URL=fake_openai_server.base_url,
        CHAT_COMPLETIONS_API_KEY="test",
        CHAT_COMPLETIONS_MODEL="gpt-4.1-mini",
        OPENAI_MAX_RETRIES="0",
    )
    with web_process(env, base) as app:
        yield app


def _ready(corpus, filename: str, content: bytes) -> None:
    outcome = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(content), filename=filename
    )
    document_services.document_ingest(document_id=outcome.document.pk)


def _sidebar_items(page):
    return page.locator("[data-conversation-list] [data-conversation-item]")


def test_the_last_question_is_edited_and_sent_again_and_the_first_stays_as_a_version(
    live_app, browser, corpus, screenshots, tmp_path
):
    member(corpus, "edda", Role.READER)
    _ready(corpus, "handbook.md", HANDBOOK.encode())
    with browser_page(browser, live_app, tmp_path) as (page, errors):
        sign_in(page, live_app, "edda")
        page.goto(f"{live_app.url}/c/handbook/")
        first = answered(page, LEAVE)
        expect(first.locator(".answer-body")).to_contain_text("thirty days of paid leave")
        expect(page).to_have_url(re.compile(r"/c/handbook/conversations/\d+/$"))
        conversation_url = page.url

        # Edit: the question's own Edit button opens it in place, with its text.
        page.get_by_role("button", name="Edit this question").click()
        field = page.get_by_label("Edit your question")
        expect(field).to_have_value(LEAVE)
        field.fill("How much is the internet allowance for working from home?")
        field.press("Enter")
        answer = page.locator("article.answer-complete").last
        expect(answer.locator(".answer-body")).to_contain_text("25 euros")
        # One turn in the line: the edited question and its answer.
        expect(page.locator("[data-question-text]")).to_have_text(
            ["How much is the internet allowance for working from home?"]
        )
        expect(page.locator("article.answer")).to_have_count(1)
        assert page.url == conversation_url

        # The earlier question and its answer are a version of the turn, after a reload too.
        page.reload()
        versions = page.locator("[data-question-turn] details.versions")
        expect(versions.locator("summary")).to_have_text("Edited · earlier version (1)")
        versions.locator("summary").click()
        expect(versions.locator(".version-question")).to_have_text(LEAVE)
        expect(versions.locator(".version-answer")).to_contain_text("thirty days of paid leave")
        expect(page.locator("article.answer .answer-body")).to_contain_text("25 euros")
        page.locator("[data-transcript]").evaluate("transcript => { transcript.scrollTop = 0; }")
        page.screenshot(path=screenshots / "18-edit-question-versions.png")

        # A conversation opened by its URL and asked again is listed once, at the top.
        conversation_id = conversation_url.rstrip("/").rsplit("/", 1)[1]
        expect(_sidebar_items(page)).to_have_count(1)
        answered(page, "How early must leave be requested?")
        expect(page.locator("article.answer")).to_have_count(2)
        expect(_sidebar_items(page)).to_have_count(1)
        expect(
            page.locator(f'[data-conversation-list] [data-conversation-id="{conversation_id}"]')
        ).to_have_attribute("aria-current", "page")
        assert errors == [], errors


def test_the_answer_is_copied_as_plain_text_and_a_source_as_its_quote(
    live_app, browser, corpus, tmp_path
):
    member(corpus, "cleo", Role.READER)
    _ready(corpus, "handbook.md", HANDBOOK.encode())
    with browser_page(browser, live_app, tmp_path) as (page, errors):
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.url)
        sign_in(page, live_app, "cleo")
        page.goto(f"{live_app.url}/c/handbook/")
        answer = answered(page, LEAVE)

        # Located by what they do: their names change to "Copied" for a moment.
        copy_text = answer.locator("[data-copy=text]")
        expect(copy_text).to_have_accessible_name("Copy the answer as text")
        copy_text.click()
        expect(copy_text).to_have_text("Copied")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == answer.locator(".answer-body").inner_text().strip()
        assert "thirty days of paid leave" in copied
        assert "**" not in copied  # the text as read, not its Markdown
        assert copied.startswith("From the documents")

        source = answer.locator(".sources li[data-source]").first
        quote = source.locator(".source-quote").inner_text()
        copy_quote = source.locator("[data-copy=quote]")
        number = source.get_attribute("data-source")
        expect(copy_quote).to_have_accessible_name(f"Copy the quote from source {number}")
        copy_quote.click()
        expect(copy_quote).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == f"“{quote}” (handbook.md, page 1)"
        assert "thirty days of paid leave" in quote
        assert errors == [], errors


def test_a_conversation_is_renamed_and_deleted_from_its_sidebar_item(
    live_app, browser, corpus, tmp_path
):
    dora = member(corpus, "dora", Role.READER)
    leave = _conversation(corpus, dora, "Leave questions", LEAVE, "Thirty days.")
    home = _conversation(
        corpus, dora, "Working from home", "May I work from home?", "Three days a week."
    )
    with browser_page(browser, live_app, tmp_path) as (page, errors):
        sign_in(page, live_app, "dora")
        page.goto(f"{live_app.url}/c/handbook/conversations/{leave.pk}/")
        titles = _sidebar_items(page).locator("[data-item-title]")
        expect(titles).to_have_text(["Working from home", "Leave questions"])
        other = _sidebar_items(page).filter(has_text="Working from home")

        # Rename the other conversation from its own item; the open one keeps its title.
        other.get_by_role("button", name="Rename “Working from home”").click()
        field = other.get_by_role("textbox", name="New title")
        expect(field).to_have_value("Working from home")
        expect(field).to_be_focused()
        field.fill("Remote work")
        field.press("Enter")
        expect(titles).to_have_text(["Remote work", "Leave questions"])
        expect(page.locator("[data-chat-title]")).to_have_text("Leave questions")
        home.refresh_from_db()
        assert home.title == "Remote work"
        # Both of its buttons now name it by its new title.
        renamed = _sidebar_items(page).filter(has_text="Remote work")
        expect(renamed.get_by_role("button", name="Rename “Remote work”")).to_be_visible()
        delete = renamed.get_by_role("link", name="Delete “Remote work”")
        expect(delete).to_be_visible()
        expect(renamed.get_by_role("button", name="Rename “Remote work”")).to_be_focused()

        # Renamed from the page's header, the open conversation's item follows, buttons and
        # all, and stays marked as the one shown.
        page.get_by_text("Rename", exact=True).click()
        page.get_by_label("New title").fill("Annual leave")
        page.get_by_label("New title").press("Enter")
        expect(page.locator("[data-chat-title]")).to_have_text("Annual leave")
        expect(titles).to_have_text(["Remote work", "Annual leave"])
        shown = _sidebar_items(page).filter(has_text="Annual leave")
        expect(shown.get_by_role("button", name="Rename “Annual leave”")).to_be_visible()
        expect(shown.get_by_role("link", name="Delete “Annual leave”")).to_be_visible()
        expect(shown.locator('a[aria-current="page"]')).to_have_count(1)
        leave.refresh_from_db()
        assert leave.title == "Annual leave"

        # Delete asks first; dismissing keeps it.
        dialogs: list[str] = []

        def answer_dialog(dialog, accept: bool) -> None:
            dialogs.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        page.once("dialog", lambda dialog: answer_dialog(dialog, accept=False))
        delete.click()
        expect(titles).to_have_text(["Remote work", "Annual leave"])
        assert Conversation.objects.filter(pk=home.pk).exists()
        page.once("dialog", lambda dialog: answer_dialog(dialog, accept=True))
        delete.click()
        expect(page.locator(".flash")).to_have_text("Deleted the conversation “Remote work”.")
        expect(page).to_have_url(f"{live_app.url}/c/handbook/")
        expect(titles).to_have_text(["Annual leave"])
        assert (
            dialogs
            == ["Delete “Remote work”? Its questions and answers will be gone for good."] * 2
        )
        assert not Conversation.objects.filter(pk=home.pk).exists()
        assert Conversation.objects.filter(pk=leave.pk).exists()
        assert errors == [], errors


def test_the_dark_mode_toggle_switches_the_theme_and_keeps_it_after_a_reload(
    live_app, browser, corpus, screenshots, tmp_path
):
    tess = member(corpus, "tess", Role.READER)
    conversation = _conversation(
        corpus,
        tess,
        "Leave questions",
        LEAVE,
        "Every employee has thirty days of paid leave per calendar year.",
    )
    with browser_page(browser, live_app, tmp_path, color_scheme="light") as (page, errors):
        sign_in(page, live_app, "tess")
        page.goto(f"{live_app.url}/c/handbook/conversations/{conversation.pk}/")
        html = page.locator("html")
        toggle = page.get_by_role("button", name="Dark mode")
        background = "() => getComputedStyle(document.body).backgroundColor"
        light = page.evaluate(background)
        expect(toggle).to_have_attribute("aria-pressed", "false")
        expect(toggle).to_have_attribute("title", "Switch to the dark theme")

        toggle.click()
        expect(html).to_have_attribute("data-theme", "dark")
        expect(toggle).to_have_attribute("aria-pressed", "true")
        expect(toggle).to_have_attribute("title", "Switch to the light theme")
        expect(page.locator("body")).to_have_css("background-color", "rgb(15, 20, 27)")
        assert light != "rgb(15, 20, 27)"

        # The choice outlives the page, although the system still prefers light.
        page.reload()
        expect(html).to_have_attribute("data-theme", "dark")
        expect(toggle).to_have_attribute("aria-pressed", "true")
        expect(page.locator("body")).to_have_css("background-color", "rgb(15, 20, 27)")
        expect(page.locator("article.answer .answer-body")).to_contain_text("thirty days")
        page.screenshot(path=screenshots / "19-dark-mode-toggle.png")

        toggle.click()
        expect(html).to_have_attribute("data-theme", "light")
        page.reload()
        expect(html).to_have_attribute("data-theme", "light")
        expect(toggle).to_have_attribute("aria-pressed", "false")
        expect(page.locator("body")).to_have_css("background-color", light)

        # The page's icon loads, and so does /favicon.ico, which browsers ask for anyway.
        icon = page.locator("link[rel=icon]").get_attribute("href")
        response = page.request.get(f"{live_app.url}{icon}")
        assert response.status == 200
        assert response.headers["content-type"].startswith("image/svg+xml")
        response = page.goto(f"{live_app.url}/favicon.ico")
        assert response.status == 200
        assert response.url == f"{live_app.url}{icon}"
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert errors == [], errors


def test_the_character_counter_appears_near_the_question_limit(
    live_app, browser, corpus, screenshots, tmp_path, settings
):
    limit = settings.CHAT_MAX_QUESTION_CHARS
    assert limit == 4000  # the app's default; its processes read the same settings
    member(corpus, "cara", Role.READER)
    _ready(corpus, "handbook.md", HANDBOOK.encode())
    with browser_page(browser, live_app, tmp_path) as (page, errors):
        sign_in(page, live_app, "cara")
        page.goto(f"{live_app.url}/c/handbook/")
        box = page.get_by_label("Your question")
        counter = page.locator("[data-char-count]")
        expect(box).to_have_attribute("maxlength", str(limit))
        expect(counter).to_be_hidden()

        # Silent until 80% of the limit.
        words = "Please summarise the leave rules for me. "
        box.fill((words * 100)[: limit * 8 // 10 - 1])
        expect(counter).to_be_hidden()
        box.press("End")
        box.press_sequentially("x")
        expect(counter).to_be_visible()
        expect(counter).to_have_text("3,200 / 4,000 characters")
        expect(counter).not_to_have_class(re.compile(r"\bover\b"))
        page.screenshot(path=screenshots / "20-character-counter.png")

        # At the limit it says so, and the box takes no more.
        box.fill((words * 100)[:limit])
        expect(counter).to_have_text("4,000 / 4,000 characters")
        expect(counter).to_have_class(re.compile(r"\bover\b"))
        box.press("End")
        box.press_sequentially("yz")
        expect(counter).to_have_text("4,000 / 4,000 characters")
        assert len(box.input_value()) == limit

        # Shorter again, it goes away; sent, the box is empty and the counter hidden.
        box.fill(LEAVE)
        expect(counter).to_be_hidden()
        box.press("Enter")
        expect(page.locator("article.answer .answer-footer")).to_be_visible()
        expect(box).to_have_value("")
        expect(counter).to_be_hidden()
        assert errors == [], errors


def _rates_workbook() -> bytes:
    workbook = openpyxl.Workbook()
    summary = workbook.active
    summary.title = "Summary"
    summary.append(["Policy", "Owner"])
    summary.append(["Travel", "Finance team"])
    rates = workbook.create_sheet("Rates")
    rates.append(["Country", "Meal allowance per day"])
    rates.append(["France", "45 euros"])
    rates.append(["Germany", "40 euros"])
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def _markers_name_their_sheet(answer) -> None:
    """Each marker's spoken label is its source's entry in the Sources list: the sheet."""
    expect(answer.locator(".answer-footer")).to_be_visible()
    markers = answer.locator(".answer-body a.cite")
    expect(markers.first).to_be_visible()
    expect(answer.locator(".sources .source-where")).to_contain_text([", Sheet: Rates"])
    labels = []
    for index in range(markers.count()):
        marker = markers.nth(index)
        number = marker.inner_text().strip()
        source = answer.locator(f".sources li[data-source='{number}']")
        where = source.locator(".source-where").inner_text()
        expect(marker).to_have_attribute("aria-label", f"Source {number}: rates.xlsx{where}")
        labels.append(marker.get_attribute("aria-label"))
    assert any(label.endswith("rates.xlsx, Sheet: Rates") for label in labels), labels
    assert not any("page" in label for label in labels), labels


def test_a_spreadsheet_citation_is_spoken_with_its_sheet_as_the_sources_list_names_it(
    live_app, browser, corpus, tmp_path
):
    member(corpus, "sheila", Role.READER)
    _ready(corpus, "rates.xlsx", _rates_workbook())
    with browser_page(browser, live_app, tmp_path) as (page, errors):
        sign_in(page, live_app, "sheila")
        page.goto(f"{live_app.url}/c/handbook/")
        _markers_name_their_sheet(answered(page, "What is the meal allowance per day in France?"))
        page.reload()  # the stored answer says the same
        _markers_name_their_sheet(page.locator("article.answer").last)
        assert errors == [], errors


def test_a_first_question_stopped_while_searching_keeps_no_text_titles_the_conversation_and_retries(
    model_app, browser, corpus, fake_openai, screenshots, tmp_path
):
    member(corpus, "stella", Role.READER)
    _ready(corpus, "handbook.md", HANDBOOK.encode())
    # The model takes its time: long enough to press Stop while the page says "Searching".
    # Whether the Stop reaches the writer during the search or while it waits for the model,
    # no text may be kept (chat/services.py checks before keeping the first text).
    fake_openai.slow_next("POST", CHAT_MODEL, seconds=4)
    fake_openai.queue_chat_reply(LEAVE_REPLY)  # written after the Stop, never shown
    fake_openai.queue_chat_reply(LEAVE_REPLY)
    with browser_page(browser, model_app, tmp_path) as (page, errors):
        sign_in(page, model_app, "stella")
        page.goto(f"{model_app.url}/c/handbook/")
        ask(page, LEAVE)
        expect(page).to_have_url(re.compile(r"/c/handbook/conversations/\d+/$"))
        expect(page.get_by_text("Searching the documents…")).to_be_visible()
        page.get_by_role("button", name="Stop").click()

        answer = page.locator("article.answer").last
        flag = answer.locator("[data-answer-flag]")
        expect(flag).to_have_text("Stopped before the answer began. Retry to get one.")
        expect(page.get_by_role("button", name="Stop")).to_be_hidden()
        expect(page.get_by_text("Searching the documents…")).to_be_hidden()
        stored = Message.objects.get(role=MessageRole.ASSISTANT)
        assert stored.status == MessageStatus.STOPPED
        assert stored.content == ""

        # The conversation is named after its question although it has no answer.
        expect(page.locator("[data-chat-title]")).to_have_text(LEAVE)
        expect(page).to_have_title(f"{LEAVE} · Staff handbook · Docent")
        current = page.locator("[data-conversation-list] a[aria-current=page]")
        expect(current.locator("[data-item-title]")).to_have_text(LEAVE)

        # The stored answer, after a reload: the sentence, no empty body or heading, a Retry.
        page.reload()
        answer = page.locator("article.answer").last
        expect(answer.locator("[data-answer-flag]")).to_have_text(
            "Stopped before the answer began. Retry to get one."
        )
        expect(answer.locator(".answer-body")).to_have_count(0)
        expect(answer.locator(".sources")).to_have_count(0)
        expect(answer.get_by_role("button", name=re.compile("^Copy"))).to_have_count(0)
        expect(page.locator("[data-chat-title]")).to_have_text(LEAVE)
        expect(page).to_have_title(f"{LEAVE} · Staff handbook · Docent")
        expect(_sidebar_items(page).locator("[data-item-title]")).to_have_text([LEAVE])
        page.screenshot(path=screenshots / "21-stopped-answer-retry.png")

        # Retry answers the same question without retyping it; the stopped one is kept.
        expect(page.get_by_label("Your question")).to_have_value("")
        answer.get_by_role("button", name="Retry this answer").click()
        answer = page.locator("article.answer-complete").last
        expect(answer.locator(".answer-body")).to_contain_text("thirty days of paid leave")
        expect(page.locator("[data-question-text]")).to_have_text([LEAVE])
        earlier = answer.locator("details.versions")
        expect(earlier.locator("summary")).to_have_text("Earlier answer (1)")
        earlier.locator("summary").click()
        expect(earlier.locator(".version-label")).to_have_text(
            "Answer 1 of 2 · stopped by the user"
        )
        expect(earlier.locator(".version-answer")).to_have_text("No text was written.")
        assert errors == [], errors


def test_a_failed_answer_is_retried_without_retyping_the_question(
    model_app, browser, corpus, fake_openai, tmp_path
):
    member(corpus, "fay", Role.READER)
    _ready(corpus, "handbook.md", HANDBOOK.encode())
    fake_openai.fail_next("POST", CHAT_MODEL, status=500)
    fake_openai.queue_chat_reply(LEAVE_REPLY)
    with browser_page(browser, model_app, tmp_path) as (page, errors):
        sign_in(page, model_app, "fay")
        page.goto(f"{model_app.url}/c/handbook/")
        ask(page, LEAVE)
        answer = page.locator("article.answer").last
        expect(answer.locator(".answer-error")).to_contain_text("No answer this time.")
        retry = answer.get_by_role("button", name="Retry this answer")
        expect(retry).to_be_visible()
        expect(page.get_by_label("Your question")).to_have_value("")

        retry.click()
        answer = page.locator("article.answer-complete").last
        expect(answer.locator(".answer-body")).to_contain_text("thirty days of paid leave")
        expect(page.locator(".answer-error")).to_have_count(0)
        expect(page.locator("[data-question-text]")).to_have_text([LEAVE])
        expect(answer.locator("details.versions summary")).to_have_text("Earlier answer (1)")
        assert Message.objects.filter(role=MessageRole.USER).count() == 1
        assert list(
            Message.objects.filter(role=MessageRole.ASSISTANT)
            .order_by("pk")
            .values_list("status", flat=True)
        ) == [MessageStatus.ERROR, MessageStatus.COMPLETE]
        assert errors == [], errors

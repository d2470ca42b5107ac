"""Adding documents from the chat box, in headless Chromium against the real app and worker:
a contributor drops files onto the conversation or picks them with the paperclip and watches
them get ready; a type no parser reads is refused at once with the reason; readers get no
paperclip, see what failed rather than what to do about it, and the home card says it in words.
"""

from __future__ import annotations

import io
import re
import shutil

import pytest

from documents import services as document_services
from documents.models import Document, Role
from tests.conftest import FIXTURE_DOCS
from tests.e2e.conftest import LAPTOP, TIMEOUT_MS, ask, drop_files, member, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PARKING = """# Parking

Staff park in the north garage, level two, from seven in the morning.
Visitors get a one-day pass from the reception desk.
"""


def upload_item(page, filename: str):
    return page.locator("[data-upload-item]", has_text=filename)


def test_a_contributor_adds_documents_from_the_chat_box_and_asks_about_them(
    live_app, browser, corpus, screenshots, tmp_path
):
    member(corpus, "chiara", Role.CONTRIBUTOR)
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(page, live_app, "chiara")
        page.goto(f"{live_app.url}/c/handbook/")
        attach = page.get_by_role("button", name="Add documents", exact=True)
        assert attach.is_visible()

        # Dragging over the conversation says what a drop will do.
        drop_target = "section.chat"
        data = page.evaluate_handle(
            "() => { const t = new DataTransfer(); t.items.add(new File(['x'], 'x.md')); "
            "return t; }"
        )
        page.dispatch_event(drop_target, "dragenter", {"dataTransfer": data})
        hint = page.locator("[data-drop-hint]")
        assert hint.is_visible()
        assert "Drop files to add them to Staff handbook" in hint.inner_text()
        page.screenshot(path=screenshots / "16-chat-drop.png")
        page.dispatch_event(drop_target, "dragleave", {"dataTransfer": data})
        assert not hint.is_visible()

        # A Markdown file and a ZIP archive dropped together: the archive is refused at once.
        drop_files(
            page,
            drop_target,
            [
                ("parking.md", PARKING.encode(), "text/markdown"),
                ("photos.zip", (FIXTURE_DOCS / "other" / "simple.zip").read_bytes(), ""),
            ],
        )
        refused = upload_item(page, "photos.zip")
        refused.get_by_text("Not added").wait_for()
        text = refused.inner_text()
        assert "photos.zip cannot be added: ZIP archives are not supported." in text
        assert "Extract the files from it" in text
        assert not Document.objects.filter(filename="photos.zip").exists()

        # The Markdown file is processed by the worker and the item follows it to Ready.
        item = upload_item(page, "parking.md")
        item.locator(".badge-ready").wait_for()
        assert "Ready: 1 page" in item.inner_text()
        notice = page.locator("[data-empty-state] .notice-box")
        assert notice.inner_text() == "parking.md is ready: ask about it below."
        page.screenshot(path=screenshots / "17-chat-upload.png")
        assert "ready: you can ask about it now" in page.locator("[data-chat-status]").inner_text()
        refused.get_by_role("button", name="Dismiss").click()
        assert refused.count() == 0

        # A PDF picked with the paperclip.
        pdf = tmp_path / "typesetting-sample.pdf"
        shutil.copy(FIXTURE_DOCS / "pdf-basic" / "pdflatex-4-pages.pdf", pdf)
        with page.expect_file_chooser() as chooser:
            attach.click()
        chooser.value.set_files(str(pdf))
        upload_item(page, "typesetting-sample.pdf").locator(".badge-ready").wait_for()

        # What was just added answers.
        ask(page, "Where do staff park?")
        page.wait_for_url(re.compile(r"/c/handbook/conversations/\d+/$"))
        answer = page.locator("article.answer").last
        answer.locator(".answer-footer").wait_for()
        assert "north garage" in answer.locator(".answer-body").inner_text()
        assert "parking.md" in answer.locator(".sources").inner_text()
        assert errors == [], errors
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(live_app.logs())
        raise
    finally:
        context.close()


def test_readers_cannot_drop_files_and_see_status_not_instructions(
    live_app, browser, corpus, screenshots, tmp_path
):
    member(corpus, "rhea", Role.READER)
    member(corpus, "colin", Role.CONTRIBUTOR)
    parking = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(PARKING.encode()), filename="parking.md", enqueue=False
    ).document
    document_services.document_ingest(document_id=parking.pk)
    locked = document_services.document_upload_path(
        corpus=corpus, path=FIXTURE_DOCS / "pdf-encrypted" / "password.pdf", enqueue=False
    ).document
    document_services.document_ingest(document_id=locked.pk)
    locked.refresh_from_db()
    assert locked.status == "failed"
    assert "password" in locked.error
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(page, live_app, "rhea")
        # Home: the failure in words, in a warning's colours, and no link for a reader.
        card = page.locator(".corpus-card")
        note = card.locator("[data-failed-note]")
        assert note.inner_text().strip() == "1 file could not be read"
        assert "failed" not in card.locator(".readiness").inner_text()
        assert note.locator("a").count() == 0
        colour = note.evaluate("element => getComputedStyle(element).color")
        danger = page.evaluate(
            "() => getComputedStyle(document.documentElement).getPropertyValue('--danger')"
        )
        assert colour != danger.strip()

        # The chat box: no paperclip, and a drop is refused with a sentence.
        page.goto(f"{live_app.url}/c/handbook/")
        assert page.get_by_role("button", name="Add documents", exact=True).count() == 0
        drop_files(page, "section.chat", [("notes.md", PARKING.encode(), "text/markdown")])
        refusal = page.locator("[data-ask-error]")
        assert "Only contributors of Staff handbook can add documents" in refusal.inner_text()
        assert page.locator("[data-upload-item]").count() == 0
        page.screenshot(path=tmp_path / "reader-drop.png")

        # Documents: what failed, not the contributor's instructions, and no Retry.
        page.goto(f"{live_app.url}/c/handbook/documents/")
        row = page.locator("tr[data-document-row]", has_text="password.pdf")
        assert "The file is password-protected, so it could not be read." in row.inner_text()
        assert "Remove" not in row.inner_text()
        assert row.get_by_role("button", name=re.compile("Retry")).count() == 0

        # A contributor sees the reason, why there is no Retry, and the home card's link.
        page.context.clear_cookies()
        sign_in(page, live_app, "colin")
        link = page.locator(".corpus-card [data-failed-note] a")
        assert link.inner_text() == "see which and why"
        page.wait_for_load_state("load")
        page.screenshot(path=screenshots / "02b-home-failed-note.png")
        link.click()
        page.wait_for_url(f"{live_app.url}/c/handbook/documents/")
        row = page.locator("tr[data-document-row]", has_text="password.pdf")
        assert "password" in row.locator(".doc-error").inner_text()
        assert "Trying again would fail the same way" in row.inner_text()
        assert row.get_by_role("button", name=re.compile("Retry")).count() == 0
        page.screenshot(path=tmp_path / "contributor-row.png")
        assert errors == [], errors
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(live_app.logs())
        raise
    finally:
        context.close()

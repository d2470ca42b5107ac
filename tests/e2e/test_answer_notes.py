"""What the chat page says when an answer does not arrive: stopped by the reader, cut off, or
Docent out of reach. The browser decides these alone, so the notes come from the page's
<template>s (the same partials as a stored answer's); the network is played by Playwright."""

from __future__ import annotations

import io

import pytest

from documents import services as document_services
from documents.models import Role
from tests.e2e.conftest import LAPTOP, TIMEOUT_MS, ask, member, sign_in
from tests.e2e.test_browser import HANDBOOK

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ASK = "**/ask"


def test_a_stopped_a_cut_off_and_an_unreachable_answer_say_so(live_app, browser, corpus, tmp_path):
    member(corpus, "rhea", Role.READER)
    outcome = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(HANDBOOK.encode()), filename="handbook.md"
    )
    document_services.document_ingest(document_id=outcome.document.pk)
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    held = []
    try:
        sign_in(page, live_app, "rhea")
        page.goto(f"{live_app.url}/c/handbook/")

        # The server never answers; the reader stops waiting.
        page.route(ASK, lambda route: held.append(route))
        ask(page, "How many days of <b>leave</b>?")
        page.get_by_text("Searching the documents…").wait_for()
        page.get_by_role("button", name="Stop").click()
        page.get_by_text("Stopped before the answer began.").wait_for()
        assert page.locator(".bubble").last.inner_text() == "How many days of <b>leave</b>?"
        assert not page.get_by_role("button", name="Stop").is_visible()
        assert page.locator(".live-answer").last.get_attribute("aria-busy") == "false"
        assert not page.get_by_text("Searching the documents…").is_visible()
        page.screenshot(path=tmp_path / "stopped.png")
        page.unroute(ASK)

        # The real stream, cut off just before its end: the server wrote the answer all the
        # same, and the page picks it up from there (GET .../follow) instead of giving up.
        def cut_before_done(route):
            response = route.fetch()
            body = response.text()
            route.fulfill(response=response, body=body[: body.index("event: done")])

        page.route(ASK, cut_before_done)
        ask(page, "How many days of paid leave do employees get?")
        answer = page.locator("article.answer-complete").last
        answer.get_by_role("button", name="Regenerate").wait_for()
        assert "thirty days of paid leave" in answer.locator(".answer-body").inner_text()
        assert page.locator(".answer-error").count() == 0
        source = answer.locator(".sources li").first
        assert "handbook.md" in source.inner_text()
        assert "#passage" in source.locator("a").get_attribute("href")
        current = page.locator("[data-conversation-list] a[aria-current=page]")
        assert current.count() == 1
        assert "How many days of paid leave" in current.inner_text()
        page.screenshot(path=tmp_path / "cut-off.png")
        page.unroute(ASK)

        # Docent cannot be reached at all.
        page.route(ASK, lambda route: route.abort())
        ask(page, "And parental leave?")
        page.locator(".answer-error").last.get_by_text("Docent can't be reached.").wait_for()
        page.screenshot(path=tmp_path / "unreachable.png")
        assert page.locator(".answer-error").count() == 1
        assert page.locator(".bubble").count() == 3
        assert errors == [], errors
    finally:
        print(f"screenshots in {tmp_path}")
        context.close()

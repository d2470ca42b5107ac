"""An answer outlives a reload that lands on another web process: two uvicorn processes on the
test database, the chat model a fake OpenAI server that writes slowly. The page reloaded on the
second process re-attaches to the answer the first one is still writing (GET .../follow)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest

from chat.models import Message, MessageRole, MessageStatus
from documents import services as document_services
from documents.models import Role
from tests.e2e.conftest import (
    LAPTOP,
    TIMEOUT_MS,
    app_env,
    ask,
    member,
    sign_in,
    web_process,
)
from tests.e2e.test_browser import HANDBOOK

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# About 90 pieces at 0.1 s each: the answer takes some 9 s to write.
REPLY = (
    "Every employee has thirty days of paid leave per calendar year [1]. "
    + "Leave must be requested in the HR portal at least two weeks before it starts [1]. " * 4
    + "Unused leave can be carried over until the end of March of the following year [1]."
)


@pytest.fixture(scope="module")
def two_apps(django_db_setup, tmp_path_factory, chromium_path, fake_openai_server) -> Iterator:
    base = tmp_path_factory.mktemp("two-web-processes")
    env = app_env(
        base,
        CHAT_COMPLETIONS_BASE_URL=fake_openai_server.base_url,
        CHAT_COMPLETIONS_API_KEY="test",
        CHAT_COMPLETIONS_MODEL="gpt-4.1-mini",
    )
    with (
        web_process(env, base, "web-first") as first,
        web_process(env, base, "web-second") as second,
    ):
        yield [first, second]


def test_a_reload_on_the_other_process_picks_the_answer_up_where_it_is(
    two_apps, browser, corpus, fake_openai, tmp_path
):
    first, second = two_apps
    member(corpus, "rita", Role.READER)
    outcome = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(HANDBOOK.encode()), filename="handbook.md"
    )
    document_services.document_ingest(document_id=outcome.document.pk)
    fake_openai.stream_delay = 0.1
    fake_openai.queue_chat_reply(REPLY)
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(page, first, "rita")
        page.goto(f"{first.url}/c/handbook/")
        ask(page, "How many days of paid leave do employees get?")
        page.wait_for_url(re.compile(r"/c/handbook/conversations/\d+/$"))
        page.locator(".live-answer", has_text="thirty days").wait_for()
        path = page.url.removeprefix(first.url)

        # The same page, reloaded on the other process (the session cookie is the site's).
        page.goto(f"{second.url}{path}")
        answer = Message.objects.get(role=MessageRole.ASSISTANT)
        assert answer.status == MessageStatus.STREAMING, "the answer ended before the reload"
        live = page.locator(f"#message-{answer.pk}[data-follow-url]")
        assert live.count() == 1
        page.screenshot(path=tmp_path / "reattached.png")

        done = page.locator("article.answer-complete").last
        done.get_by_role("button", name="Regenerate").wait_for()
        assert "until the end of March" in done.locator(".answer-body").inner_text()
        assert "handbook.md" in done.locator(".sources").inner_text()
        answer.refresh_from_db()
        assert answer.status == MessageStatus.COMPLETE
        assert answer.content.count("two weeks") == 4
        assert Message.objects.filter(role=MessageRole.ASSISTANT).count() == 1
        assert page.locator("[data-conversation-list] a[aria-current=page]").count() == 1
        assert errors == [], errors
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(first.logs())
        raise
    finally:
        context.close()

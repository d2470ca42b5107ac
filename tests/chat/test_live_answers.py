"""Answers that outlive the page: the answer is written to its end when the client goes away,
stored as it grows, followed again (GET .../follow) from any process, and stopped only by Stop.

The answer runs in a thread of its own with its own database connection, so these tests commit
their data (transaction=True)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient
from django.utils import timezone

from chat import services
from chat.models import Conversation, Message, MessageRole, MessageStatus
from chat.strategies.base import AnswerDone, AnswerRequest, StrategyEvent, TextDelta, Usage
from chat.streaming import follow_answer_events
from tests.conftest import make_corpus, make_people, parse_sse

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = [f"word{n} " for n in range(40)]


class PacedStrategy:
    """Forty words, one every 25 ms: long enough to leave, stop or follow in the middle."""

    label = "Paced for tests"
    requires = ()
    admin_notice = ""

    def __init__(self, *, key: str) -> None:
        self.key = key

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        for word in WORDS:
            time.sleep(0.025)
            yield TextDelta(word)
        yield AnswerDone(answer="".join(WORDS).strip(), citations=(), usage=Usage())


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def corpus(people, settings):
    corpus = make_corpus(people)
    settings.CHAT_STRATEGIES = {
        **settings.CHAT_STRATEGIES,
        "paced": {"BACKEND": "tests.chat.test_live_answers.PacedStrategy"},
    }
    corpus.chat_strategy = "paced"
    corpus.save(update_fields=["chat_strategy"])
    return corpus


@pytest.fixture(autouse=True)
def _streams_finish():
    yield
    _wait_for_answers()
    asyncio.run(sync_to_async(connections.close_all)())


def _wait_for_answers() -> None:
    for thread in threading.enumerate():
        if thread.name == "docent-stream":
            thread.join(timeout=20)


async def _client(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def _read(response, until: int | None = None) -> tuple[str, int]:
    """The stream's text, up to `until` deltas when given (then the client goes away)."""
    body, deltas = "", 0
    content = response.streaming_content
    async for chunk in content:
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        body += text
        deltas += text.count("event: delta")
        if until is not None and deltas >= until:
            break
    await content.aclose()
    return body, deltas


def _leave_after(user, url: str, data: dict[str, str], deltas: int = 3) -> dict:
    """POST, read a few deltas and go away (a reload); returns the `start` event."""

    async def run():
        client = await _client(user)
        response = await client.post(url, data)
        body, _ = await _read(response, until=deltas)
        return parse_sse(body).named("start")[0]

    return asyncio.run(run())


def _get_stream(user, url: str):
    async def run():
        client = await _client(user)
        response = await client.get(url)
        if not response.streaming:
            return response, None
        body, _ = await _read(response)
        return response, parse_sse(body)

    return asyncio.run(run())


def test_leaving_the_page_does_not_stop_the_answer(people, corpus):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})
    _wait_for_answers()
    answer = Message.objects.get(pk=start["message_id"])
    assert answer.status == MessageStatus.COMPLETE
    assert answer.content == "".join(WORDS).strip()
    assert answer.reply_to_id == start["question_id"]
    assert Conversation.objects.get(pk=start["conversation_id"]).title == "Count for me"


def test_the_answer_is_stored_as_it_grows(people, corpus):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})
    seen = set()
    for _ in range(200):
        answer = Message.objects.get(pk=start["message_id"])
        if answer.status != MessageStatus.STREAMING:
            break
        seen.add(answer.content)
        assert answer.heartbeat_at is not None
        time.sleep(0.02)
    # Several partial versions were readable by anyone while it was written.
    assert len([text for text in seen if text]) >= 2


def test_following_an_answer_being_written_streams_it_then_the_stored_answer(people, corpus):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})
    response, stream = _get_stream(people.reader, start["follow_url"])
    assert response["Content-Type"] == "text/event-stream"
    names = stream.names()
    assert names[-1] == "done"
    renders = stream.named("html")
    assert len(renders) >= 2
    assert "word0" in renders[0]["html"]
    assert len(renders[-1]["html"]) > len(renders[0]["html"])
    done = stream.named("done")[0]
    assert "word39" in done["message_html"]
    assert "Regenerate" in done["message_html"]
    assert done["title"] == "Count for me"


def test_following_a_finished_answer_sends_it_at_once(people, corpus):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})
    _wait_for_answers()
    _, stream = _get_stream(people.reader, start["follow_url"])
    assert stream.names() == ["done"]


def test_an_answer_whose_process_died_reads_as_cut_off(people, corpus):
    conversation = services.conversation_start(corpus=corpus, user=people.reader)
    question = Message.objects.create(conversation=conversation, role="user", content="Q?")
    answer = Message.objects.create(
        conversation=conversation,
        role="assistant",
        reply_to=question,
        status=MessageStatus.STREAMING,
        content="Half an ans",
        heartbeat_at=timezone.now() - timedelta(minutes=10),
    )
    _, stream = _get_stream(people.reader, f"/c/policies/messages/{answer.pk}/follow")
    assert stream.names() == ["error"]
    assert "cut off on the server" in stream.named("error")[0]["message_html"]
    assert "Retry" in stream.named("error")[0]["message_html"]
    page = asyncio.run(_page(people.reader, conversation))
    assert "cut off on the server" in page
    assert "data-follow-url" not in page


async def _page(user, conversation) -> str:
    client = await _client(user)
    response = await client.get(f"/c/policies/conversations/{conversation.pk}/")
    return response.content.decode()


def test_a_reloaded_page_shows_the_live_answer_to_follow(people, corpus):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})
    conversation = Conversation.objects.get(pk=start["conversation_id"])
    page = asyncio.run(_page(people.reader, conversation))
    assert f'data-follow-url="{start["follow_url"]}"' in page
    assert f'data-stop-url="{start["stop_url"]}"' in page
    # The title is the question's while the first answer is still being written.
    assert "<title>Count for me · Policies · Docent</title>" in page


def test_stop_is_explicit_and_reaches_the_writer_from_another_request(people, corpus):
    async def run():
        client = await _client(people.reader)
        response = await client.post("/c/policies/ask", {"question": "Count for me"})
        content = response.streaming_content
        body = ""
        stopped = False
        async for chunk in content:
            body += chunk.decode() if isinstance(chunk, bytes) else chunk
            if not stopped and body.count("event: delta") >= 3:
                start = parse_sse(body.rsplit("\n\n", 1)[0] + "\n\n").named("start")[0]
                other = await _client(people.reader)
                result = await other.post(start["stop_url"])
                assert result.json() == {"stopped": True}
                stopped = True
        return parse_sse(body)

    stream = asyncio.run(run())
    assert stream.names()[-1] == "stopped"
    final = stream.named("stopped")[0]
    answer = Message.objects.get(pk=final["message_id"])
    assert answer.status == MessageStatus.STOPPED
    assert answer.content.startswith("word0 word1 word2")
    assert "word39" not in answer.content
    assert "Stopped before the end" in final["message_html"]
    assert "Retry" in final["message_html"]
    # The conversation keeps the title of its first question.
    assert Conversation.objects.get().title == "Count for me"


def test_a_stop_before_the_first_text_keeps_no_text(people, corpus):
    # Pressed while the page still says "Searching the documents…": the first word (or the
    # extractive answer's heading) that arrives afterwards is not kept as a begun answer.
    conversation = services.conversation_start(corpus=corpus, user=people.reader)
    events = services.message_ask(conversation=conversation, question="Count for me")
    started = next(events)
    assert services.message_stop(answer=started.answer)
    (stopped,) = list(events)
    assert isinstance(stopped, services.AskStopped)
    answer = Message.objects.get(pk=started.answer.pk)
    assert answer.status == MessageStatus.STOPPED
    assert answer.content == ""
    assert Conversation.objects.get().title == "Count for me"


def test_stop_on_an_ended_answer_changes_nothing(people, corpus):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})
    _wait_for_answers()

    async def run():
        client = await _client(people.reader)
        return (await client.post(start["stop_url"])).json()

    assert asyncio.run(run()) == {"stopped": False}
    assert Message.objects.get(pk=start["message_id"]).status == MessageStatus.COMPLETE


def test_a_stopped_first_turn_still_titles_the_conversation(people, corpus):
    conversation = services.conversation_start(corpus=corpus, user=people.reader)
    events = services.message_ask(conversation=conversation, question="Meals   abroad?")
    next(events)  # started
    events.close()  # the command line's Ctrl+C
    conversation.refresh_from_db()
    assert conversation.title == "Meals abroad?"
    assert conversation.messages.get(role="assistant").status == MessageStatus.STOPPED


def test_others_cannot_follow_stop_or_regenerate_an_answer(people, corpus):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})
    _wait_for_answers()

    async def run(user):
        client = await _client(user)
        follow = await client.get(start["follow_url"])
        stop = await client.post(start["stop_url"])
        again = await client.post(f"/c/policies/messages/{start['message_id']}/regenerate")
        edit = await client.post(
            f"/c/policies/messages/{start['question_id']}/edit", {"question": "Mine now"}
        )
        return follow.status_code, stop.status_code, again.status_code, edit.status_code

    assert asyncio.run(run(people.owner)) == (404, 404, 404, 404)
    assert asyncio.run(run(people.outsider)) == (404, 404, 404, 404)


def _post_stream(user, url: str, data: dict[str, str] | None = None):
    async def run():
        client = await _client(user)
        response = await client.post(url, data or {})
        if not response.streaming:
            return response, None
        body, _ = await _read(response)
        return response, parse_sse(body)

    return asyncio.run(run())


def test_regenerate_answers_again_and_keeps_the_earlier_answer(people, corpus):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})
    _wait_for_answers()
    first = Message.objects.get(pk=start["message_id"])
    _, stream = _post_stream(people.reader, f"/c/policies/messages/{first.pk}/regenerate")
    assert stream.names()[0] == "start"
    assert stream.names()[-1] == "done"
    again = Message.objects.get(pk=stream.named("done")[0]["message_id"])
    assert again.replaces == first
    assert again.reply_to_id == first.reply_to_id
    html = stream.named("done")[0]["message_html"]
    assert "Earlier answer (1)" in html
    conversation = again.conversation
    page = asyncio.run(_page(people.reader, conversation))
    assert page.count("data-question-turn") == 2  # the turn, and the page's template
    assert f'id="message-{again.pk}"' in page
    assert f'id="message-{first.pk}"' not in page  # shown inside "Earlier answers", unnumbered
    assert "Earlier answer (1)" in page
    # The model sees one turn: the current answer.
    history = services.conversation_history(conversation)
    assert len(history) == 1


def test_only_the_latest_answer_can_be_regenerated(people, corpus):
    first = _leave_after(people.reader, "/c/policies/ask", {"question": "One"})
    _wait_for_answers()
    conversation_url = f"/c/policies/conversations/{first['conversation_id']}/ask"
    _leave_after(people.reader, conversation_url, {"question": "Two"})
    _wait_for_answers()
    response, _ = _post_stream(
        people.reader, f"/c/policies/messages/{first['message_id']}/regenerate"
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Only the latest answer can be answered again."}


def test_a_live_answer_cannot_be_regenerated_until_stopped(people, corpus):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})
    response, _ = _post_stream(
        people.reader, f"/c/policies/messages/{start['message_id']}/regenerate"
    )
    assert response.status_code == 400
    assert "still being written" in response.json()["error"]


def test_editing_the_last_question_answers_the_new_one(people, corpus):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})
    _wait_for_answers()
    _, stream = _post_stream(
        people.reader,
        f"/c/policies/messages/{start['question_id']}/edit",
        {"question": "Count for me, please"},
    )
    assert stream.names()[-1] == "done"
    edited = Message.objects.get(pk=stream.named("start")[0]["question_id"])
    assert edited.content == "Count for me, please"
    assert edited.replaces_id == start["question_id"]
    page = asyncio.run(_page(people.reader, edited.conversation))
    assert "Count for me, please" in page
    assert "Edited · earlier version (1)" in page
    questions = [m for m in services.conversation_history(edited.conversation)]
    assert [turn.question for turn in questions] == ["Count for me, please"]


def test_an_edited_question_is_checked_like_a_new_one(people, corpus, settings):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})
    _wait_for_answers()
    response, _ = _post_stream(
        people.reader, f"/c/policies/messages/{start['question_id']}/edit", {"question": "  "}
    )
    assert response.status_code == 400
    assert Message.objects.filter(role=MessageRole.USER).count() == 1


def test_the_api_follows_an_answer_in_its_own_events(people, corpus):
    start = _leave_after(people.reader, "/c/policies/ask", {"question": "Count for me"})

    async def run():
        return [event async for event in follow_answer_events(start["message_id"], offset=0)]

    events = asyncio.run(run())
    names = [name for name, _ in events]
    assert names[-1] == "done"
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert text == events[-1][1]["answer"][: len(text)]
    assert text.startswith("word0")

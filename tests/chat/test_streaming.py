"""The answer stream: a POST to an async view that answers text/event-stream.

The answer is produced in a thread of its own (chat.streaming.iterate_in_thread) with its own
database connection, so these tests commit their data (transaction=True)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import connections
from django.test import AsyncClient

from chat import services
from chat.models import Conversation, Message, MessageStatus
from chat.strategies.base import (
    AnswerDone,
    AnswerRequest,
    Citation,
    CitationFound,
    StrategyError,
    StrategyEvent,
    TextDelta,
    Usage,
)
from documents.backends.base import Searchable
from tests.conftest import make_corpus, make_people, parse_sse

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def corpus(people):
    return make_corpus(people)


@pytest.fixture(autouse=True)
def _streams_finish():
    """Answer threads, and asgiref's thread for async ORM calls, hold database connections:
    wait for the first and close the second's, so the test database can be dropped."""
    yield
    for thread in threading.enumerate():
        if thread.name == "docent-stream":
            thread.join(timeout=10)
    asyncio.run(sync_to_async(connections.close_all)())


async def post_stream(user, url: str, data: dict[str, str]):
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.post(url, data)
    if not response.streaming:
        return response, None
    chunks = [chunk async for chunk in response.streaming_content]
    body = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    return response, parse_sse(body)


def ask(user, url, question):
    return asyncio.run(post_stream(user, url, {"question": question}))


def test_a_new_conversation_streams_a_cited_answer(people, corpus):
    response, stream = ask(
        people.reader, "/c/policies/ask", "How much is the meal allowance abroad?"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    names = stream.names()
    assert names[0] == "start"
    assert names[-1] == "done"
    # `html` renders come only while the stream waits for the strategy (see the throttling
    # test): this answer may arrive too fast for any.
    assert {"delta", "citation"} <= set(names)
    start = stream.named("start")[0]
    conversation = Conversation.objects.get(pk=start["conversation_id"])
    assert conversation.user == people.reader
    assert conversation.corpus == corpus
    assert start["conversation_url"] == f"/c/policies/conversations/{conversation.pk}/"
    assert start["ask_url"] == f"/c/policies/conversations/{conversation.pk}/ask"
    # What the page shows of it, from the page's partials: the question, the sidebar entry.
    assert f'id="message-{start["question_id"]}"' in start["question_html"]
    assert "How much is the meal allowance abroad?</div>" in start["question_html"]
    assert f'href="{start["conversation_url"]}" aria-current="page"' in start["conversation_html"]
    assert "How much is the meal allowance abroad?</span>" in start["conversation_html"]
    # The answer row exists from the start, with where to follow and stop it.
    assert Message.objects.get(pk=start["message_id"]).role == "assistant"
    assert start["follow_url"] == f"/c/policies/messages/{start['message_id']}/follow"
    assert start["stop_url"] == f"/c/policies/messages/{start['message_id']}/stop"
    source = stream.named("citation")[0]["source_html"]
    assert source.startswith('<li value="1" data-source="1">')
    assert '<span class="source-document">meals.md</span>' in source
    assert '<q class="source-quote">' in source
    done = stream.named("done")[0]
    answer = Message.objects.get(pk=done["message_id"])
    assert answer.status == MessageStatus.COMPLETE
    assert "45 euros" in done["answer"]
    assert done["citations"][0]["document"] == "meals.md"
    assert done["strategy"] == "manual_retrieval"
    meals = corpus.documents.get(filename="meals.md")
    assert f'href="/c/policies/documents/{meals.pk}/?page=1&amp;start=' in done["html"]
    assert 'class="cite"' in done["html"]
    assert "Sources" in done["message_html"]
    assert done["grounded"] is True
    assert "Not found in the documents" not in done["message_html"]
    assert "meals.md" in done["message_html"]
    assert "Answered from your documents" in done["message_html"]
    assert "Manual retrieval" not in done["message_html"].split("title=")[0]
    assert "Extractive answer" in done["message_html"]
    assert done["title"] == "How much is the meal allowance abroad?"
    # The deltas add up to the answer; the html events are renders of the text so far.
    assert "".join(d["text"] for d in stream.named("delta")).strip() == done["answer"]


def test_a_follow_up_continues_the_conversation(people, corpus):
    _, first = ask(people.reader, "/c/policies/ask", "How much is the meal allowance abroad?")
    conversation_id = first.named("start")[0]["conversation_id"]
    url = f"/c/policies/conversations/{conversation_id}/ask"
    response, stream = ask(people.reader, url, "And when are the receipts due?")
    assert response.status_code == 200
    assert stream.named("start")[0]["conversation_id"] == conversation_id
    assert "thirty days" in stream.named("done")[0]["answer"]
    assert Conversation.objects.filter(user=people.reader).count() == 1
    assert Message.objects.filter(conversation_id=conversation_id).count() == 4


def test_an_empty_question_is_refused_before_streaming(people, corpus):
    response, stream = ask(people.reader, "/c/policies/ask", "   ")
    assert response.status_code == 400
    assert stream is None
    assert response.json() == {"error": "Ask a question first."}
    assert not Conversation.objects.exists()


def test_a_too_long_question_is_refused_with_the_limit(people, corpus, settings):
    settings.CHAT_MAX_QUESTION_CHARS = 10
    response, _ = ask(people.reader, "/c/policies/ask", "x" * 11)
    assert response.status_code == 400
    assert "limited to 10 characters" in response.json()["error"]


def test_outsiders_and_other_users_get_404(people, corpus):
    _, stream = ask(people.reader, "/c/policies/ask", "How much is the meal allowance abroad?")
    conversation_id = stream.named("start")[0]["conversation_id"]
    url = f"/c/policies/conversations/{conversation_id}/ask"
    assert ask(people.outsider, "/c/policies/ask", "Meals?")[0].status_code == 404
    assert ask(people.outsider, url, "Meals?")[0].status_code == 404
    # The owner may read the corpus, but not someone else's conversation.
    assert ask(people.owner, url, "Meals?")[0].status_code == 404
    assert ask(people.reader, "/c/nothing/ask", "Meals?")[0].status_code == 404


def test_get_is_not_allowed(people, corpus):
    async def get():
        client = AsyncClient()
        await client.aforce_login(people.reader)
        return await client.get("/c/policies/ask")

    assert asyncio.run(get()).status_code == 405


class FailingStrategy:
    label = "Failing for tests"
    requires = (Searchable,)
    requires = ()
    admin_notice = ""

    def __init__(self, *, key: str) -> None:
        self.key = key

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        yield TextDelta("Partly ")
        raise StrategyError(
            "The language model server is rate-limiting requests right now. Wait a minute and "
            "ask again.",
            retryable=True,
            code="rate_limited",
        )


class SlowStrategy:
    label = "Slow for tests"
    requires = (Searchable,)
    requires = ()
    admin_notice = ""

    def __init__(self, *, key: str) -> None:
        self.key = key

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        for word in ["One ", "two ", "three ", "four ", "five "] * 20:
            time.sleep(0.05)
            yield TextDelta(word)
        yield AnswerDone(answer="done", citations=(), usage=Usage())


class HostileStrategy:
    label = "Hostile for tests"
    requires = (Searchable,)
    requires = ()
    admin_notice = ""
    text = (
        'Look <script>alert("x")</script> and <img src=x onerror=alert(1)> and '
        "[click](javascript:alert(1)) [1] [7]"
    )

    def __init__(self, *, key: str) -> None:
        self.key = key

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        citation = Citation(
            number=1,
            document_id=1,
            document="<b>evil</b>.md",
            page=1,
            page_end=1,
            quote='<script>alert("q")</script> quoted',
        )
        yield TextDelta(self.text)
        yield CitationFound(citation)
        yield AnswerDone(answer=self.text, citations=(citation,), usage=Usage())


@pytest.fixture
def strategy(settings, corpus):
    def use(cls) -> None:
        key = cls.__name__.lower()
        settings.CHAT_STRATEGIES = {
            **settings.CHAT_STRATEGIES,
            key: {"BACKEND": f"tests.chat.test_streaming.{cls.__name__}"},
        }
        corpus.chat_strategy = key
        corpus.save(update_fields=["chat_strategy"])

    return use


def test_a_failed_turn_says_what_happened_and_what_to_do(people, corpus, strategy):
    strategy(FailingStrategy)
    _, stream = ask(people.reader, "/c/policies/ask", "Meals?")
    assert stream.names()[-1] == "error"
    error = stream.named("error")[0]
    assert error["code"] == "rate_limited"
    assert error["retryable"] is True
    assert "Wait a minute and ask again." in error["message"]
    assert "No answer this time." in error["message_html"]
    assert "Wait a minute and ask again." in error["message_html"]
    assert "Traceback" not in error["message_html"]
    assert Message.objects.get(pk=error["message_id"]).status == MessageStatus.ERROR


def test_html_events_are_throttled(people, corpus, strategy):
    strategy(SlowStrategy)
    _, stream = ask(people.reader, "/c/policies/ask", "Count slowly")
    deltas, renders = len(stream.named("delta")), len(stream.named("html"))
    assert deltas == 100
    # Deltas come every 50 ms and renders at most every 150 ms: progressive, but far fewer
    # renders than deltas.
    assert 2 <= renders <= deltas // 2


def test_model_output_cannot_inject_markup(people, corpus, strategy):
    strategy(HostileStrategy)
    _, stream = ask(people.reader, "/c/policies/ask", "Anything")
    done = stream.named("done")[0]
    for html in [done["html"], done["message_html"], *[e["html"] for e in stream.named("html")]]:
        assert "<script" not in html
        assert "<img" not in html
        assert 'href="javascript' not in html
        assert "onerror=alert" not in html or "&lt;img" in html
    assert "&lt;script&gt;" in done["html"]
    assert 'class="cite"' in done["html"]  # [1] exists
    assert "[7]" in done["html"]  # [7] does not: left as text
    assert "&lt;b&gt;evil&lt;/b&gt;.md" in done["message_html"]
    source = stream.named("citation")[0]["source_html"]
    assert "<script" not in source
    assert "&lt;b&gt;evil&lt;/b&gt;.md" in source


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (ValidationError("This corpus cannot be answered right now."), "cannot be answered"),
        (RuntimeError("boom"), "Something went wrong while answering."),
    ],
)
def test_a_stream_that_breaks_ends_with_the_pages_failure_note(
    people, corpus, monkeypatch, error, said
):
    def broken(**kwargs):
        raise error
        yield

    monkeypatch.setattr(services, "conversation_ask", broken)
    _, stream = ask(people.reader, "/c/policies/ask", "Meals?")
    assert stream.names() == ["error"]
    failure = stream.named("error")[0]
    assert said in failure["message"]
    assert "<strong>No answer this time.</strong>" in failure["note_html"]
    assert said in failure["note_html"]
    assert "boom" not in failure["note_html"]


def test_the_service_deletes_a_new_conversation_when_the_question_is_refused(people, corpus):
    with pytest.raises(ValidationError):
        list(services.conversation_ask(corpus=corpus, user=people.reader, question=" "))
    assert not Conversation.objects.exists()


def test_a_question_the_documents_do_not_cover_shows_a_distinct_not_found_answer(people, corpus):
    _, stream = ask(people.reader, "/c/policies/ask", "Which Kubernetes version runs Jenkins?")

    done = stream.named("done")[0]
    assert done["grounded"] is False
    assert done["answer"].startswith("I could not find this in the documents of “Policies”.")
    assert "answer-not-found" in done["message_html"]
    assert '<p class="answer-badge">Not found in the documents</p>' in done["message_html"]
    if done["citations"]:
        assert ">Possibly related</h3>" in done["message_html"]


def test_the_answering_thread_logs_under_the_request_id():
    """The thread that produces a streamed answer runs in the request's context, so its log
    lines carry the request id the client got in X-Request-Id."""
    from api.middleware import current_request_id
    from chat.streaming import iterate_in_thread

    def in_thread() -> Iterator[str]:
        yield current_request_id.get()

    async def consume() -> list[str]:
        current_request_id.set("req-streamed")
        return [item async for item in iterate_in_thread(in_thread)]

    assert asyncio.run(consume()) == ["req-streamed"]

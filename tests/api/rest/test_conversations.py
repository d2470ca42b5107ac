"""REST conversations (api/rest/conversations.py): list, detail, delete."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from django.test import AsyncClient

from api.models import ApiConversation
from chat.models import Message
from tests.api.conftest import api_client, token_for
from tests.api.rest.conftest import ask
from tests.conftest import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)


def test_conversations_list_get_and_delete(client, people, policies):
    first = ask(client, "How much is the meal allowance abroad?").json()
    ask(client, "And the receipts?", conversation_id=first["conversation_id"])
    second = ask(client, "Where do cars go?").json()
    # Someone else's conversation is not listed.
    api_client(token_for(people.reader)).post(
        "/api/corpora/policies/ask",
        json.dumps({"question": "Meals?"}),
        content_type="application/json",
    )

    listing = client.get("/api/conversations").json()
    assert listing["count"] == 2
    assert {c["id"] for c in listing["items"]} == {
        first["conversation_id"],
        second["conversation_id"],
    }
    assert listing["items"][0]["corpus"] == "policies"
    assert client.get("/api/conversations", {"corpus": "other"}).json()["count"] == 0
    assert (
        client.get("/api/conversations", {"limit": 1}).json()["items"][0]["id"]
        == (second["conversation_id"])
    )

    detail = client.get(f"/api/conversations/{first['conversation_id']}").json()
    assert detail["title"] == "How much is the meal allowance abroad?"
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant", "user", "assistant"]
    assert detail["messages"][1]["citations"][0]["document"] == "meals.md"
    assert detail["messages"][1]["status"] == "complete"

    assert client.delete(f"/api/conversations/{first['conversation_id']}").status_code == 204
    assert client.get(f"/api/conversations/{first['conversation_id']}").status_code == 404
    assert client.get("/api/conversations").json()["count"] == 1
    assert not ApiConversation.objects.filter(conversation_id=first["conversation_id"]).exists()


def test_an_answer_goes_on_when_the_client_leaves_and_can_be_followed(people, policies):
    """The ask stream is written to its end when its client goes away; GET .../stream picks it
    up from the characters already received."""
    plaintext = token_for(people.contributor)

    async def leave_early():
        response = await AsyncClient().post(
            "/api/corpora/policies/ask",
            json.dumps({"question": "How much is the meal allowance abroad?", "stream": True}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {plaintext}"},
        )
        content = response.streaming_content
        body = ""
        async for chunk in content:
            body += chunk.decode() if isinstance(chunk, bytes) else chunk
            if "event: start" in body:
                break
        await content.aclose()
        return parse_sse(body.split("\n\n")[0] + "\n\n").named("start")[0]

    start = asyncio.run(leave_early())
    for thread in threading.enumerate():
        if thread.name == "docent-stream":
            thread.join(timeout=20)
    answer = Message.objects.get(pk=start["message_id"])
    assert answer.status == "complete"

    client = api_client(plaintext)
    url = f"/api/conversations/{start['conversation_id']}/messages/{answer.pk}/stream"

    async def follow():
        response = await AsyncClient().get(
            url, {"offset": 3}, headers={"Authorization": f"Bearer {plaintext}"}
        )
        chunks = [chunk async for chunk in response.streaming_content]
        body = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
        return response, parse_sse(body)

    response, stream = asyncio.run(follow())
    assert response["Content-Type"] == "text/event-stream"
    assert stream.names()[-1] == "done"
    assert stream.named("done")[0]["answer"] == answer.content
    # Someone else's answer is not there.
    other = api_client(token_for(people.reader))
    assert other.get(url).status_code == 404
    missing = f"/api/conversations/{start['conversation_id']}/messages/999999/stream"
    assert client.get(missing).status_code == 404


def test_a_follow_stream_that_fails_midway_ends_with_an_error_event(people, policies, monkeypatch):
    """The status line is sent before the answer is read: a failure after it (the database
    gone mid-poll) ends the stream with `error`, as the ask stream does, never a cut-off body."""
    from django.db import OperationalError

    client = api_client(token_for(people.contributor))
    answer = ask(client, "How much is the meal allowance abroad?").json()

    async def failing(message_id, *, offset=0):
        yield "delta", {"text": "Meal"}
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("api.rest.conversations.follow_answer_events", failing)
    url = f"/api/conversations/{answer['conversation_id']}/messages/{answer['message_id']}/stream"
    plaintext = token_for(people.contributor)

    async def follow():
        response = await AsyncClient().get(url, headers={"Authorization": f"Bearer {plaintext}"})
        chunks = [chunk async for chunk in response.streaming_content]
        return parse_sse("".join(c.decode() if isinstance(c, bytes) else c for c in chunks))

    stream = asyncio.run(follow())
    assert stream.names() == ["delta", "error"]
    error = stream.named("error")[0]
    assert error["code"] == "internal"
    assert error["retryable"] is True
    assert "server closed" not in error["message"]

"""REST conversations (api/rest/conversations.py): list, detail, delete."""

from __future__ import annotations

import json

import pytest

from api.models import ApiConversation
from tests.api.conftest import api_client, token_for
from tests.api.rest.conftest import ask

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

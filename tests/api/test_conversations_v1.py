"""/v1/conversations and their items, mapped onto Docent conversations: the shapes (checked
against openapi.yaml), the web UI seeing them, responses asked in them, and access."""

from __future__ import annotations

import json

import pytest

from api.models import ApiConversation, ConversationExtras
from api.openai_compat.responses_wire import conversation_id
from chat import services as chat_services
from chat.models import Conversation, MessageRole
from tests.api.conftest import api_client, make_corpora, make_people, token_for
from tests.factories import UserFactory
from tests.fakes.spec_check import checker

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How much is the meal allowance abroad?"


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def corpora(people):
    return make_corpora(people)


@pytest.fixture
def policies(corpora):
    return corpora[0]


@pytest.fixture
def client(people, policies):
    return api_client(token_for(people.reader))


def post(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def spec_problems(method, path, status, body):
    return checker().check_exchange(method, path, status, body=body)


def test_a_conversation_is_created_with_items_and_shown_in_the_web_ui(client, people, policies):
    reply = post(
        client,
        "/v1/conversations",
        {
            "metadata": {"topic": "travel"},
            "items": [
                {"type": "message", "role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "What is the meal allowance?"},
                {"role": "assistant", "content": "Up to 45 euros a day."},
            ],
        },
    )
    assert reply.status_code == 200, reply.content
    body = reply.json()
    assert spec_problems("POST", "/v1/conversations", 200, body) == []
    assert body["object"] == "conversation"
    assert body["metadata"] == {"topic": "travel"}
    assert set(body) == {"id", "object", "created_at", "metadata"}
    conversation = Conversation.objects.get()
    assert body["id"] == conversation_id(conversation)
    assert conversation.user == people.reader
    assert conversation.corpus == policies
    assert ApiConversation.objects.filter(conversation=conversation).exists()
    assert [(m.role, m.content) for m in conversation.messages.order_by("id")] == [
        (MessageRole.USER, "What is the meal allowance?"),
        (MessageRole.ASSISTANT, "Up to 45 euros a day."),
    ]
    # Its owner sees it in the web UI.
    browser = api_client(None)
    browser.force_login(people.reader)
    page = browser.get(f"/c/policies/conversations/{conversation.pk}/")
    assert page.status_code == 200
    assert "Up to 45 euros a day." in page.content.decode()

    items = client.get(f"/v1/conversations/{body['id']}/items?order=asc").json()
    assert spec_problems("GET", f"/v1/conversations/{body['id']}/items", 200, items) == []
    assert [item["role"] for item in items["data"]] == ["system", "user", "assistant"]
    assert items["data"][0]["content"] == [{"type": "input_text", "text": "Answer briefly."}]
    assert items["data"][2]["content"][0]["type"] == "output_text"


def test_a_response_in_a_conversation_adds_its_items(client, policies):
    created = post(client, "/v1/conversations", {}).json()
    reply = post(
        client,
        "/v1/responses",
        {"model": "policies", "input": QUESTION, "conversation": {"id": created["id"]}},
    )
    assert reply.status_code == 200, reply.content
    response = reply.json()
    assert response["conversation"] == {"id": created["id"]}
    follow = post(
        client,
        "/v1/responses",
        {"model": "policies", "input": "And receipts?", "conversation": created["id"]},
    ).json()
    assert follow["status"] == "completed"
    items = client.get(f"/v1/conversations/{created['id']}/items").json()
    # Newest first, as OpenAI lists them.
    assert [item["role"] for item in items["data"]] == ["assistant", "user", "assistant", "user"]
    assert items["data"][3]["content"][0]["text"] == QUESTION
    answer = items["data"][2]
    assert answer["id"] == response["output"][0]["id"]
    assert answer["content"][0]["annotations"][0]["filename"] == "meals.md"
    one = client.get(f"/v1/conversations/{created['id']}/items/{answer['id']}")
    assert one.json() == answer
    conversation = Conversation.objects.get()
    assert conversation.messages.count() == 4


def test_a_web_ui_conversation_is_continued_through_v1(client, people, policies):
    conversation = chat_services.conversation_start(corpus=policies, user=people.reader)
    chat_services.message_ask_collect(conversation=conversation, question=QUESTION)
    public_id = conversation_id(conversation)
    assert client.get(f"/v1/conversations/{public_id}").json()["id"] == public_id
    reply = post(
        client,
        "/v1/responses",
        {"model": "policies", "input": "When are receipts due?", "conversation": public_id},
    ).json()
    assert reply["status"] == "completed"
    assert [m.content for m in conversation.messages.order_by("id") if m.role == "user"] == [
        QUESTION,
        "When are receipts due?",
    ]


def test_a_new_conversation_moves_to_the_corpus_its_first_response_names(people, corpora):
    policies, secret = corpora
    manager = api_client(token_for(people.manager))
    created = post(manager, "/v1/conversations", {}).json()
    assert Conversation.objects.get().corpus == policies  # provisional: the first by slug
    reply = post(
        manager,
        "/v1/responses",
        {"model": "secret", "input": "When are salaries reviewed?", "conversation": created["id"]},
    )
    assert reply.status_code == 200, reply.content
    assert Conversation.objects.get().corpus == secret
    # Once answered there, it stays there.
    refused = post(
        manager,
        "/v1/responses",
        {"model": "policies", "input": QUESTION, "conversation": created["id"]},
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "model"
    assert "secret" in refused.json()["error"]["message"]


def test_metadata_is_updated_and_items_added_and_deleted(client, policies):
    created = post(client, "/v1/conversations", {"metadata": {"a": "1"}}).json()
    path = f"/v1/conversations/{created['id']}"
    updated = post(client, path, {"metadata": {"b": "2"}}).json()
    assert updated["metadata"] == {"b": "2"}
    assert client.get(path).json()["metadata"] == {"b": "2"}

    added = post(
        client,
        f"{path}/items",
        {
            "items": [
                {"role": "developer", "content": "Cite pages."},
                {"role": "user", "content": "Hi"},
            ]
        },
    ).json()
    assert spec_problems("POST", f"{path}/items", 200, added) == []
    assert [item["role"] for item in added["data"]] == ["developer", "user"]
    assert added["first_id"] == added["data"][0]["id"]
    for item in added["data"]:
        deleted = client.delete(f"{path}/items/{item['id']}")
        assert deleted.status_code == 200
        assert deleted.json()["id"] == created["id"]
        assert client.get(f"{path}/items/{item['id']}").status_code == 404
    assert client.get(f"{path}/items").json()["data"] == []
    assert ConversationExtras.objects.get().instruction_items == []


def test_deleting_a_conversation_deletes_the_docent_conversation(client, policies):
    created = post(client, "/v1/conversations", {}).json()
    deleted = client.delete(f"/v1/conversations/{created['id']}")
    assert deleted.json() == {
        "id": created["id"],
        "object": "conversation.deleted",
        "deleted": True,
    }
    assert spec_problems("DELETE", f"/v1/conversations/{created['id']}", 200, deleted.json()) == []
    assert not Conversation.objects.exists()
    assert client.get(f"/v1/conversations/{created['id']}").status_code == 404


@pytest.mark.parametrize("who", ["manager", "outsider"])
def test_someone_elses_conversation_is_not_found(client, people, policies, who):
    created = post(client, "/v1/conversations", {}).json()
    other = api_client(token_for(people.get(who)))
    for reply in (
        other.get(f"/v1/conversations/{created['id']}"),
        other.get(f"/v1/conversations/{created['id']}/items"),
        other.delete(f"/v1/conversations/{created['id']}"),
        post(
            other,
            "/v1/responses",
            {"model": "policies", "input": QUESTION, "conversation": created["id"]},
        ),
    ):
        assert reply.status_code in (404, 400), reply.content
        assert (
            f"Conversation with id '{created['id']}' not found." in reply.json()["error"]["message"]
            or reply.json()["error"]["param"] == "model"
        )
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"items": [{"role": "wizard", "content": "x"}]}, "items[0].role"),
        ({"items": [{"role": "user", "content": "x"}] * 21}, "items"),
        ({"metadata": {f"k{n}": "v" for n in range(17)}}, "metadata"),
        ({"items": [{"role": "assistant", "content": "x" * 200_001}]}, "items"),
    ],
)
def test_bad_conversations_are_400s_naming_the_parameter(client, policies, body, param):
    reply = post(client, "/v1/conversations", body)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == param
    assert not Conversation.objects.exists()


def test_a_token_that_may_query_nothing_cannot_create_a_conversation(db):
    nobody = api_client(token_for(UserFactory(username="nora")))
    reply = post(nobody, "/v1/conversations", {})
    assert reply.status_code == 403
    assert "may query no corpus" in reply.json()["error"]["message"]

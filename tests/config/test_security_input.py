"""NUL characters in any text input are refused with a 400 before they reach PostgreSQL (which
cannot store them and answered 500), and API answers and downloads are never cached (issue 13)."""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client

from chat import services
from chat.models import Conversation, Feedback, MessageRole
from config.security import NUL_MESSAGE
from documents.models import Document
from tests.api.conftest import api_client, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(corpus, people) -> Conversation:
    conversation = services.conversation_start(corpus=corpus, user=people.reader)
    services.message_ask_collect(conversation=conversation, question="Meal allowance abroad?")
    return conversation


def _refused_page(response) -> None:
    assert response.status_code == 400
    assert NUL_MESSAGE in response.content.decode()


def test_conversation_rename_with_nul_is_refused(as_reader, conversation):
    url = f"/c/policies/conversations/{conversation.pk}/rename"
    _refused_page(as_reader.post(url, {"title": "Meals\x00abroad"}))
    response = as_reader.post(url, {"title": "Meals\x00"}, headers={"Accept": "application/json"})
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert "\x00" not in conversation.title


def test_feedback_comment_with_nul_is_refused(as_reader, conversation):
    answer = conversation.messages.get(role=MessageRole.ASSISTANT)
    url = f"/c/policies/messages/{answer.pk}/feedback"
    _refused_page(as_reader.post(url, {"rating": "down", "comment": "wrong\x00"}))
    assert not Feedback.objects.exists()


def test_question_with_nul_is_refused(as_reader, conversation):
    url = f"/c/policies/conversations/{conversation.pk}/ask"
    _refused_page(as_reader.post(url, {"question": "Receipts\x00?"}))


def test_documents_search_with_nul_is_refused(as_reader, corpus):
    _refused_page(as_reader.get("/c/policies/documents/?q=meal%00"))
    assert as_reader.get("/c/policies/documents/?q=meal").status_code == 200


@pytest.mark.parametrize(
    "query",
    ["q=meal%00", "status=%00", "corpus__id__exact=%00", "o=%00", "p%00=1"],
)
def test_admin_search_and_filters_with_nul_are_refused(admin_client, corpus, query):
    _refused_page(admin_client.get(f"/admin/documents/document/?{query}"))
    _refused_page(admin_client.get(f"/admin/chat/conversation/?{query}"))


def test_upload_named_with_nul_is_stored_without_it(as_owner, corpus):
    upload = io.BytesIO(b"# Notes\n\nSome text.")
    upload.name = "notes\x00.md"
    response = as_owner.post("/c/policies/documents/upload", {"files": upload})
    assert response.status_code in (302, 400)
    # (PostgreSQL refuses NUL even in a query, so the names are compared here.)
    names = list(Document.objects.filter(corpus=corpus).values_list("filename", flat=True))
    assert all("\x00" not in name for name in names)


def test_api_json_with_nul_is_a_400_in_each_api_shape(people, corpus):
    client = api_client(token_for(people.reader))
    response = client.post(
        "/api/corpora/policies/ask",
        json.dumps({"question": "meals\u0000?"}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert response.json()["error"]["message"] == NUL_MESSAGE

    response = client.post(
        "/v1/chat/completions",
        json.dumps({"model": "policies", "messages": [{"role": "user", "content": "a\u0000"}]}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"] == NUL_MESSAGE


def test_escaped_backslash_before_u0000_is_ordinary_text(people, corpus):
    client = api_client(token_for(people.reader))
    response = client.post(
        "/api/corpora/policies/search",
        json.dumps({"query": "C:\\u0000 meals"}),
        content_type="application/json",
    )
    assert response.status_code != 400, response.content


# --- Cache-Control ------------------------------------------------------------------------------


def _no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_api_json_is_never_stored(people, corpus):
    client = api_client(token_for(people.reader))
    for response in (
        client.get("/api/corpora"),
        client.get("/api/corpora/policies/documents"),
        client.get("/v1/models"),
        client.get("/api/nowhere"),  # errors too
        Client().get("/api/corpora"),  # 401
    ):
        assert response["Content-Type"].startswith("application/json"), response
        assert _no_store(response), (response.status_code, response.get("Cache-Control"))


def test_document_download_is_never_stored(as_reader, meals):
    response = as_reader.get(f"/c/policies/documents/{meals.pk}/download")
    assert response.status_code == 200
    assert _no_store(response)
    b"".join(response.streaming_content)


def test_ordinary_pages_keep_their_caching(as_reader, corpus):
    assert not _no_store(as_reader.get("/static/css/docent.css"))

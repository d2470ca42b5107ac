"""The chat pages: home, a conversation with its sidebar, rename, delete and feedback."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError

from chat import services
from chat.models import Conversation, Feedback, Message, MessageRole, MessageStatus
from documents import services as document_services
from documents.models import Document, DocumentStatus
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(corpus, people) -> Conversation:
    conversation = services.conversation_start(corpus=corpus, user=people.reader)
    services.message_ask_collect(
        conversation=conversation, question="How much is the meal allowance abroad?"
    )
    return conversation


@pytest.fixture
def answer(conversation) -> Message:
    return conversation.messages.get(role=MessageRole.ASSISTANT)


def url(conversation, action=""):
    return f"/c/policies/conversations/{conversation.pk}/{action}"


# --- home ---------------------------------------------------------------------------------------


def test_home_lists_the_corpora_a_user_may_read_with_readiness(as_reader, corpus, other_corpus):
    document_services.document_upload(
        corpus=corpus, file=io.BytesIO(b"queued text"), filename="queued.txt"
    )
    failed = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(b"broken text"), filename="broken.txt"
    ).document
    Document.objects.filter(pk=failed.pk).update(status=DocumentStatus.FAILED)
    response = as_reader.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Policies" in html
    assert "Travel, cars and the office." in html
    assert "2 documents ready, 1 processing</p>" in html
    # The failure is said apart, in words, not as a red "1 failed" beside the dot.
    assert "1 failed" not in html
    assert "1 file could not be read" in html
    assert "see which and why" not in html  # a reader cannot do anything about it
    assert "/c/policies/" in html
    assert "Secret" not in html
    assert "/c/secret/" not in html


def test_home_shows_contributors_the_way_to_failed_files(as_contributor, corpus):
    failed = document_services.document_upload(
        corpus=corpus, file=io.BytesIO(b"broken text"), filename="broken.txt"
    ).document
    Document.objects.filter(pk=failed.pk).update(status=DocumentStatus.FAILED)
    html = as_contributor.get("/").content.decode()
    assert '1 file could not be read: <a href="/c/policies/documents/">see which and why</a>' in (
        html
    )


def test_home_tells_someone_without_corpora_what_to_do(as_outsider, corpus):
    html = as_outsider.get("/").content.decode()
    assert "Policies" not in html
    assert "Ask an administrator" in html


def test_superusers_see_every_corpus(corpus, other_corpus, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    html = client_for(admin).get("/").content.decode()
    assert "Policies" in html
    assert "Secret" in html


# --- the chat page ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "contributor", "reader"])
def test_members_can_open_a_new_conversation(people, corpus, who):
    response = client_for(getattr(people, who)).get("/c/policies/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "New conversation" in html
    assert 'action="/c/policies/ask"' in html
    assert '<label for="question"' in html
    assert "2 documents ready" in html
    assert 'aria-live="polite"' in html


def test_the_page_holds_what_the_script_shows_before_the_server_answers(as_reader, conversation):
    html = as_reader.get(url(conversation)).content.decode()
    assert f'data-ask-form data-conversation-id="{conversation.pk}"' in html

    def template(name: str) -> str:
        return html.split(f"<template data-{name}-template>")[1].split("</template>")[0]

    assert 'class="bubble" data-question-text></div>' in template("question")
    assert 'class="answer answer-streaming"' in template("answer")
    assert "Searching the documents…" in template("answer")
    assert "Stopped before the end: this answer is incomplete." in template("stopped")
    assert "<strong>No answer this time.</strong>" in template("failed")


def test_outsiders_and_unknown_corpora_are_404(as_outsider, as_reader, corpus, other_corpus):
    assert as_outsider.get("/c/policies/").status_code == 404
    assert as_reader.get("/c/secret/").status_code == 404
    assert as_reader.get("/c/nothing/").status_code == 404


def test_a_conversation_shows_its_turns_with_sources_strategy_and_notice(
    as_reader, conversation, answer
):
    response = as_reader.get(url(conversation))
    assert response.status_code == 200
    html = response.content.decode()
    assert "How much is the meal allowance abroad?" in html
    assert 'class="cite"' in html
    assert "Sources" in html
    assert 'meals.md</span><span class="source-where">, page 1' in html
    # Plain words for readers; the method's name only in the tooltip.
    assert ">Answered from your documents</span>" in html
    assert 'title="Method: Manual retrieval' in html
    assert "Extractive answer" in html
    assert f'action="/c/policies/messages/{answer.pk}/feedback"' in html
    assert 'aria-current="page"' in html
    assert f'action="{url(conversation)}ask"' in html


def test_another_users_conversation_is_404_even_in_a_shared_corpus(
    as_owner, as_contributor, as_outsider, conversation
):
    for client in (as_owner, as_contributor, as_outsider):
        assert client.get(url(conversation)).status_code == 404
        assert client.post(url(conversation, "rename"), {"title": "x"}).status_code == 404
        assert client.post(url(conversation, "delete")).status_code == 404
        assert client.get(url(conversation, "delete")).status_code == 404
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_a_conversation_is_404_under_another_corpus(as_reader, conversation, people, corpus):
    from documents.models import CorpusMembership, Role
    from documents.services import corpus_create

    second = corpus_create(name="Second", slug="second")
    CorpusMembership.objects.create(corpus=second, user=people.reader, role=Role.READER)
    assert as_reader.get(f"/c/second/conversations/{conversation.pk}/").status_code == 404


def test_a_conversation_is_404_once_the_user_loses_access(as_reader, conversation, people):
    conversation.corpus.memberships.filter(user=people.reader).delete()
    assert as_reader.get(url(conversation)).status_code == 404


def test_the_sidebar_lists_only_my_conversations_for_this_corpus_newest_first(
    as_reader, corpus, people, conversation
):
    newer = services.conversation_start(corpus=corpus, user=people.reader, title="Newer one")
    services.conversation_start(corpus=corpus, user=people.owner, title="Olivia's")
    html = as_reader.get("/c/policies/").content.decode()
    assert html.index("Newer one") < html.index("How much is the meal allowance abroad?")
    assert "Olivia's" not in html
    assert f"/c/policies/conversations/{newer.pk}/" in html


def test_failed_and_stopped_turns_read_as_sentences(as_reader, conversation):
    Message.objects.create(conversation=conversation, role=MessageRole.USER, content="Again?")
    Message.objects.create(
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        status=MessageStatus.ERROR,
        error="OpenAI is rate-limiting requests right now. Wait a minute and ask again.",
        strategy="manual_retrieval",
    )
    Message.objects.create(conversation=conversation, role=MessageRole.USER, content="Stop?")
    Message.objects.create(
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        status=MessageStatus.STOPPED,
        content="Half an",
        strategy="manual_retrieval",
    )
    html = as_reader.get(url(conversation)).content.decode()
    assert "No answer this time.</strong> OpenAI is rate-limiting" in html
    assert "Stopped before the end" in html
    assert "Traceback" not in html


# --- rename and delete --------------------------------------------------------------------------


def test_rename_inline_answers_json(as_reader, conversation):
    response = as_reader.post(
        url(conversation, "rename"),
        {"title": "  Meal   limits "},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    data = response.json()
    assert data["title"] == "Meal limits"
    # The sidebar entry, drawn by its template: both buttons name the new title, and the
    # page, not the server, marks it as the one shown.
    item = data["item_html"]
    assert 'aria-label="Rename “Meal limits”"' in item
    assert 'aria-label="Delete “Meal limits”"' in item
    assert "Delete “Meal limits”? Its questions and answers will be gone for good." in item
    assert f'data-rename-url="{url(conversation, "rename")}"' in item
    assert "aria-current" not in item
    conversation.refresh_from_db()
    assert conversation.title == "Meal limits"


def test_rename_without_script_redirects_and_refuses_an_empty_title(as_reader, conversation):
    response = as_reader.post(url(conversation, "rename"), {"title": "Plain"})
    assert response.status_code == 302
    assert response["Location"] == url(conversation)
    response = as_reader.post(
        url(conversation, "rename"), {"title": " "}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "A title cannot be empty."}
    conversation.refresh_from_db()
    assert conversation.title == "Plain"


def test_delete_asks_first_then_deletes(as_reader, conversation):
    response = as_reader.get(url(conversation, "delete"))
    assert response.status_code == 200
    assert "Delete “How much is the meal allowance abroad?”?" in response.content.decode()
    response = as_reader.post(url(conversation, "delete"))
    assert response.status_code == 302
    assert response["Location"] == "/c/policies/"
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert as_reader.get(url(conversation)).status_code == 404


# --- feedback -----------------------------------------------------------------------------------


def feedback_url(message):
    return f"/c/policies/messages/{message.pk}/feedback"


def test_feedback_is_stored_and_replaced(as_reader, answer, people):
    json = {"Accept": "application/json"}
    response = as_reader.post(feedback_url(answer), {"rating": "up"}, headers=json)
    assert response.status_code == 200
    assert response.json()["rating"] == "up"
    response = as_reader.post(
        feedback_url(answer), {"rating": "down", "comment": " Missing the limit "}, headers=json
    )
    assert response.status_code == 200
    feedback = Feedback.objects.get()
    assert (feedback.message, feedback.user) == (answer, people.reader)
    assert (feedback.rating, feedback.comment) == ("down", "Missing the limit")
    html = as_reader.get(url(answer.conversation)).content.decode()
    assert 'value="down" class="thumb" aria-pressed="true"' in html
    assert "Missing the limit</textarea>" in html


def test_feedback_without_script_redirects_to_the_answer(as_reader, answer):
    response = as_reader.post(feedback_url(answer), {"rating": "up"})
    assert response.status_code == 302
    assert response["Location"] == f"{url(answer.conversation)}#message-{answer.pk}"


def test_bad_feedback_is_refused_plainly(as_reader, answer, conversation):
    json = {"Accept": "application/json"}
    response = as_reader.post(feedback_url(answer), {"rating": "meh"}, headers=json)
    assert response.status_code == 400
    assert response.json() == {"error": "Choose thumbs up or thumbs down."}
    question = conversation.messages.get(role=MessageRole.USER)
    assert as_reader.post(feedback_url(question), {"rating": "up"}).status_code == 404
    assert not Feedback.objects.exists()


def test_feedback_on_someone_elses_answer_is_404(as_owner, as_outsider, answer):
    for client in (as_owner, as_outsider):
        assert client.post(feedback_url(answer), {"rating": "down"}).status_code == 404
    assert not Feedback.objects.exists()


def test_message_feedback_service_validates(answer, people):
    with pytest.raises(ValidationError):
        services.message_feedback(message=answer, user=people.reader, rating="x")
    with pytest.raises(ValidationError):
        services.message_feedback(
            message=answer, user=people.reader, rating="up", comment="x" * 2001
        )
    first = services.message_feedback(message=answer, user=people.reader, rating="up")
    second = services.message_feedback(
        message=answer, user=people.reader, rating="down", comment="meh"
    )
    assert first.pk == second.pk
    assert Feedback.objects.count() == 1


def test_favicon_ico_leads_to_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.svg")


def test_conversation_search_finds_titles_and_answers_of_my_conversations(
    as_reader, conversation, answer
):
    found = as_reader.get("/c/policies/conversations/", {"q": "allowance", "partial": "list"})
    assert f'data-conversation-id="{conversation.pk}"' in found.content.decode()
    by_answer = as_reader.get("/c/policies/conversations/", {"q": "45 euros", "partial": "list"})
    assert f'data-conversation-id="{conversation.pk}"' in by_answer.content.decode()
    nothing = as_reader.get("/c/policies/conversations/", {"q": "zebra", "partial": "list"})
    assert "No conversation matches “zebra”." in nothing.content.decode()
    page = as_reader.get("/c/policies/conversations/", {"q": "zebra"})
    assert 'value="zebra"' in page.content.decode()


def test_conversation_search_is_404_for_outsiders(as_outsider, corpus):
    assert as_outsider.get("/c/policies/conversations/", {"q": "x"}).status_code == 404

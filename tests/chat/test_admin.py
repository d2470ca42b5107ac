"""The chat app's admin: how corpora are answered (strategy choice, the Assistants shutdown
warning, moving conversations off it), read-only conversations and the usage page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from chat.models import Conversation, Message
from documents import services
from documents.models import Corpus
from tests.documents.test_admin import change_url, form_data
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus(db) -> Corpus:
    return services.corpus_create(name="Handbook", slug="handbook")


@pytest.fixture
def openai_corpus(settings, fake_openai) -> Corpus:
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "test"
    settings.OPENAI_MAX_RETRIES = 0
    return services.corpus_create(name="Remote", slug="remote", index_backend="openai")


@pytest.fixture
def conversation(corpus) -> Conversation:
    conversation = Conversation.objects.create(
        corpus=corpus, strategy="manual_retrieval", title="Meals abroad"
    )
    Message.objects.create(conversation=conversation, role="user", content="Meals abroad?")
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        content="Up to 45 euros per day [1].",
        citations=[{"number": 1, "document": "handbook.md"}],
        strategy="manual_retrieval",
        model="extractive",
        prompt_tokens=12,
        completion_tokens=7,
        latency_ms=40,
    )
    return conversation


def test_chat_admin_pages_load_for_a_superuser(admin_client, conversation):
    urls = [
        reverse("admin:chat_conversation_changelist"),
        reverse("admin:chat_conversation_changelist") + "?q=45+euros",
        change_url(conversation),
        reverse("admin:usage"),
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url


def test_index_links_to_the_usage_page(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert reverse("admin:usage").encode() in response.content


def test_strategy_select_offers_only_strategies_of_the_corpus_backend(
    admin_client, corpus, openai_corpus
):
    local = admin_client.get(change_url(corpus)).content.decode()
    assert 'value="manual_retrieval"' in local
    assert 'value="file_search"' not in local
    assert 'value="assistants"' not in local

    remote = admin_client.get(change_url(openai_corpus)).content.decode()
    assert 'value="file_search"' in remote
    assert 'value="assistants"' in remote
    # OpenAI's vector stores are searchable too, so manual retrieval can answer from them.
    assert 'value="manual_retrieval"' in remote
    assert "OpenAI shut the Assistants API down on 2026-08-26" in remote


def test_a_corpus_using_assistants_shows_the_shutdown_warning(admin_client, openai_corpus):
    Corpus.objects.filter(pk=openai_corpus.pk).update(chat_strategy="assistants")
    response = admin_client.get(change_url(openai_corpus))
    shown = [str(message) for message in response.context["messages"]]
    assert any("New conversations use assistants" in message for message in shown)


def test_the_strategy_is_validated_against_the_backend(admin_client):
    response = admin_client.get(reverse("admin:documents_corpus_add"))
    data = form_data(response)
    data.update(name="Policies", slug="policies", index_backend="pgvector")
    data["chat_strategy"] = "assistants"
    response = admin_client.post(reverse("admin:documents_corpus_add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["chat_strategy"]
    assert "needs an index backend with a remote vector store" in errors[0]
    assert not Corpus.objects.exists()


def test_saving_a_strategy(admin_client, openai_corpus):
    data = form_data(admin_client.get(change_url(openai_corpus)))
    data["chat_strategy"] = "assistants"
    response = admin_client.post(change_url(openai_corpus), data)
    assert response.status_code == 302
    assert Corpus.objects.get(pk=openai_corpus.pk).chat_strategy == "assistants"


def test_moving_assistants_conversations_to_file_search(admin_client, corpus, openai_corpus):
    for _ in range(2):
        Conversation.objects.create(corpus=openai_corpus, strategy="assistants")
    Conversation.objects.create(corpus=openai_corpus, strategy="file_search")
    response = admin_client.post(
        reverse("admin:documents_corpus_changelist"),
        {
            "action": "move_assistants_conversations",
            "_selected_action": [openai_corpus.pk, corpus.pk],
        },
        follow=True,
    )
    shown = [str(message) for message in response.context["messages"]]
    assert any(
        message.startswith("Remote: moved 2 conversations from Assistants to File Search")
        for message in shown
    ), shown
    assert any(message.startswith("Handbook: nothing moved.") for message in shown), shown
    assert set(Conversation.objects.values_list("strategy", flat=True)) == {"file_search"}
    assert Corpus.objects.get(pk=openai_corpus.pk).chat_strategy == "file_search"


def test_conversations_are_read_only(admin_client, conversation):
    response = admin_client.get(change_url(conversation))
    page = response.content.decode()
    assert "Up to 45 euros per day [1]." in page
    assert "12 + 7" in page  # tokens
    assert 'name="_save"' not in page
    assert admin_client.get(reverse("admin:chat_conversation_add")).status_code == 403
    listing = admin_client.get(reverse("admin:chat_conversation_changelist"))
    assert b"Meals abroad" in listing.content


def test_only_superusers_may_delete_conversations(admin_client, conversation):
    staff = UserFactory(username="sam", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="chat"))
    client = Client()
    client.force_login(staff)
    url = reverse("admin:chat_conversation_delete", args=[conversation.pk])
    assert client.get(change_url(conversation)).status_code == 200
    assert client.post(url, {"post": "yes"}).status_code == 403

    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_usage_page_is_for_staff_who_may_see_conversations(client, admin_client):
    url = reverse("admin:usage")
    assert client.get(url).status_code == 302  # to the sign-in page
    staff = UserFactory(username="sam", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_message"))
    assert client.get(url).status_code == 200
    assert b"Usage and estimated cost" in admin_client.get(url).content

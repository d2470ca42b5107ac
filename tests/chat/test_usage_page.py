"""The admin's usage page with API-token usage on record and with any period typed into its
address (issue 13: both answered 500)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from api import services as api_services
from api.models import ApiConversation, ApiInterface
from chat.models import Conversation, Message
from documents import services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_answer() -> Message:
    corpus = services.corpus_create(name="Handbook", slug="handbook")
    user = UserFactory(username="integration")
    token, _ = api_services.token_create(
        user=user, name="Intranet bot", scopes=[{"corpus": "*", "permissions": ["query"]}]
    )
    conversation = Conversation.objects.create(
        corpus=corpus, user=user, strategy="manual_retrieval", title="Meals"
    )
    ApiConversation.objects.create(
        conversation=conversation, token=token, interface=ApiInterface.REST
    )
    Message.objects.create(conversation=conversation, role="user", content="Meals abroad?")
    return Message.objects.create(
        conversation=conversation,
        role="assistant",
        content="Up to 45 euros per day [1].",
        strategy="manual_retrieval",
        model="gpt-4.1-mini-2025-04-14",
        prompt_tokens=1000,
        completion_tokens=100,
    )


def test_usage_page_shows_api_token_usage_and_prices_by_model(admin_client, api_answer):
    response = admin_client.get(reverse("admin:usage"))
    assert response.status_code == 200
    content = response.content.decode()
    assert '<th scope="col">API token</th>' in content
    prefix = api_answer.conversation.api_origin.token.prefix
    assert prefix in content
    # The price list names the model the answer was billed at, not a token.
    assert "gpt-4.1-mini-2025-04-14 input $0.4" in content


@pytest.mark.parametrize(
    "query",
    [
        "start=0001-01-01&end=9999-12-31",
        "start=2026-01-01&end=9999-12-31",
        "start=0001-01-01&end=2026-01-01",
        "start=99999-01-01&end=2026-01-01",
    ],
)
def test_usage_page_refuses_days_out_of_range_with_a_message(admin_client, api_answer, query):
    response = admin_client.get(f"{reverse('admin:usage')}?{query}")
    assert response.status_code == 200
    content = response.content.decode()
    assert (
        "Choose a day from 2000-01-01 to 9998-12-31." in content or "Enter a valid date" in content
    )
    assert "Usage and estimated cost" in content  # the last 30 days are shown meanwhile

"""The official `openai` SDK against the running app (uvicorn, ASGI), as a user's tool would
use it: corpora are models, answers come with sources, streams end with usage."""

from __future__ import annotations

import openai
import pytest

from api.models import ApiConversation, ApiInterface
from chat.models import Conversation
from tests.api.conftest import make_corpora, make_people, token_for

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How much is the meal allowance abroad?"


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def corpora(people):
    return make_corpora(people)


@pytest.fixture
def sdk(live_app, people, corpora, fake_openai) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{live_app.url}/v1", api_key=token_for(people.reader), max_retries=0
    )


def test_the_sdk_lists_and_retrieves_corpora_as_models(sdk, corpora):
    models = sdk.models.list()
    assert [model.id for model in models] == ["policies"]
    (model,) = models.data
    assert model.object == "model"
    assert model.owned_by == "docent"
    assert model.created == int(corpora[0].created_at.timestamp())
    assert sdk.models.retrieve("policies").id == "policies"
    with pytest.raises(openai.NotFoundError) as error:
        sdk.models.retrieve("secret")
    assert error.value.code == "model_not_found"


def test_the_sdk_gets_a_cited_completion(sdk, live_app):
    completion = sdk.chat.completions.create(
        model="policies",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": QUESTION},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "policies"
    (choice,) = completion.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    content = choice.message.content
    assert "45 euros" in content, live_app.log.read_text()
    assert "[1]" in content
    assert "\n\nSources:\n[1] meals.md, p. 1" in content
    # The fake chat model counts words: real usage from the strategy.
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    citations = completion.model_extra["citations"]
    assert citations == completion.to_dict()["citations"]
    assert citations[0]["document"] == "meals.md"
    assert citations[0]["page"] == 1
    assert citations[0]["number"] == 1

    conversation = Conversation.objects.get()
    assert conversation.user.username == "rita"
    assert ApiConversation.objects.get(conversation=conversation).interface == ApiInterface.OPENAI
    assert conversation.messages.count() == 2


def test_the_sdk_streams_a_completion_with_usage(sdk):
    stream = sdk.chat.completions.create(
        model="policies",
        messages=[
            {"role": "user", "content": "What is the meal allowance?"},
            {"role": "assistant", "content": "Up to 45 euros a day [1]."},
            {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    first, *_, last = chunks
    assert first.choices[0].delta.role == "assistant"
    assert first.choices[0].delta.content == ""
    assert first.usage is None
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "45 euros" in text
    assert "\n\nSources:\n[1] meals.md, p. 1" in text
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finish] == ["stop"]
    assert finish[0].model_extra["citations"][0]["document"] == "meals.md"
    assert last.choices == []
    assert last.usage.total_tokens > 0
    assert {c.id for c in chunks} == {first.id}
    # The client's earlier turn is stored before the new one.
    conversation = Conversation.objects.get()
    assert [m.content for m in conversation.messages.order_by("id")][:3] == [
        "What is the meal allowance?",
        "Up to 45 euros a day [1].",
        QUESTION,
    ]


def test_the_sdk_raises_its_own_errors(sdk, live_app):
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(
            model="secret", messages=[{"role": "user", "content": QUESTION}]
        )
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(
            model="policies", messages=[{"role": "assistant", "content": "Hello"}]
        )
    assert bad.value.param == "messages"
    stranger = openai.OpenAI(base_url=f"{live_app.url}/v1", api_key="dct_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denied:
        stranger.models.list()
    assert denied.value.code == "invalid_api_key"

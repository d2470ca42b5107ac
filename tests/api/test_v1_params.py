"""Parameters Docent cannot honour are 400s naming them; sampling parameters are accepted;
wrong types are 400s; the history a client sends is bounded. Through the official SDK against
the running app, and `openai_params_check` directly for /v1/responses' parameters."""

from __future__ import annotations

import json

import openai
import pydantic
import pytest

from api.errors import ApiError
from api.openai_compat.params import openai_params_check
from chat.models import Conversation, Message
from tests.api.conftest import api_client, make_corpora, make_people, token_for

QUESTION = "How much is the meal allowance abroad?"
ASK = [{"role": "user", "content": QUESTION}]


# --- through the SDK, against the live app --------------------------------------------------------


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


class Allowance(pydantic.BaseModel):
    euros_per_day: int


@pytest.mark.django_db(transaction=True)
def test_parse_with_a_json_schema_is_refused_naming_response_format(sdk):
    # Before: a 200 with prose, and .parse() failed on the client reading it as JSON.
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.parse(model="policies", messages=ASK, response_format=Allowance)
    assert refused.value.param == "response_format"
    assert refused.value.code == "unsupported_value"
    assert "json_schema" in refused.value.message
    assert not Conversation.objects.exists()


TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kwargs", "param", "code"),
    [
        ({"response_format": {"type": "json_object"}}, "response_format", "unsupported_value"),
        ({"tools": [TOOL]}, "tools", "unsupported_parameter"),
        ({"tools": [TOOL], "tool_choice": "required"}, "tool_choice", "unsupported_value"),
        ({"tool_choice": "auto"}, "tool_choice", "unsupported_value"),
        ({"logprobs": True}, "logprobs", "unsupported_value"),
        ({"logprobs": True, "top_logprobs": 3}, "logprobs", "unsupported_value"),
        ({"top_logprobs": 2}, "top_logprobs", "unsupported_parameter"),
        ({"n": 2}, "n", "unsupported_value"),
        ({"modalities": ["text", "audio"]}, "modalities", "unsupported_value"),
        ({"web_search_options": {}}, None, None),  # empty options ask for nothing
        (
            {"functions": [TOOL["function"]]},
            "functions",
            "unsupported_parameter",
        ),
    ],
)
def test_what_docent_cannot_honour_is_a_400_naming_the_parameter(sdk, kwargs, param, code):
    if param is None:
        completion = sdk.chat.completions.create(model="policies", messages=ASK, **kwargs)
        assert "45 euros" in completion.choices[0].message.content
        return
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(model="policies", messages=ASK, **kwargs)
    assert refused.value.status_code == 400
    assert refused.value.param == param
    assert refused.value.code == code
    assert refused.value.type == "invalid_request_error"
    assert not Conversation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_sampling_parameters_are_accepted(sdk):
    completion = sdk.chat.completions.create(
        model="policies",
        messages=ASK,
        temperature=0.2,
        top_p=0.9,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        max_tokens=300,
        max_completion_tokens=300,
        seed=7,
        stop=["\n\n\n"],
        logit_bias={"50256": -100},
        user="alice",
        metadata={"app": "test"},
        store=False,
        n=1,
        logprobs=False,
        response_format={"type": "text"},
        reasoning_effort="low",
        service_tier="auto",
        # Tools a client always declares are fine while it asks for none of them.
        tools=[TOOL],
        tool_choice="none",
        parallel_tool_calls=False,
    )
    assert "45 euros" in completion.choices[0].message.content
    assert Conversation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("extra", "param", "code", "message"),
    [
        (
            {"temperature": "hot"},
            "temperature",
            "invalid_type",
            "expected a decimal, but got a string",
        ),
        ({"temperature": 3}, "temperature", "decimal_above_max_value", "<= 2"),
        ({"top_p": -0.1}, "top_p", "decimal_below_min_value", ">= 0"),
        ({"max_tokens": 0}, "max_tokens", "integer_below_min_value", ">= 1"),
        ({"max_tokens": 12.5}, "max_tokens", "invalid_type", "expected an integer"),
        ({"seed": True}, "seed", "invalid_type", "but got a boolean"),
        ({"stream": "yes"}, "stream", "invalid_type", "expected a boolean"),
        ({"stop": 4}, "stop", "invalid_type", "expected one of a string or an array"),
        ({"n": 0}, "n", "integer_below_min_value", ">= 1"),
        ({"response_format": {"type": "yaml"}}, "response_format.type", "invalid_value", "yaml"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_type",
         "but got an integer"),
        ({"messages": []}, "messages", "empty_array", "empty array"),
        ({"messages": [{"content": "hi"}]}, "messages[0].role", "missing_required_parameter",
         "messages[0].role"),
        ({"model": 12}, "model", "invalid_type", "expected a string"),
    ],
)  # fmt: skip
def test_wrong_types_and_ranges_are_400s_in_openais_words(sdk, extra, param, code, message):
    # The SDK sends what it is given: extra_body overrides the typed arguments.
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(model="policies", messages=ASK, extra_body=extra)
    assert bad.value.param == param
    assert bad.value.code == code
    assert message in bad.value.message
    assert not Conversation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_missing_model_is_a_missing_required_parameter(sdk, live_app):
    import httpx

    response = httpx.post(
        f"{live_app.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {sdk.api_key}"},
        json={"messages": ASK},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("model", "missing_required_parameter")
    assert error["message"] == "Missing required parameter: 'model'."


@pytest.mark.django_db(transaction=True)
def test_a_body_that_is_not_a_json_object_is_a_400(sdk, live_app):
    import httpx

    for content in (b"{not json", b"[1, 2]"):
        response = httpx.post(
            f"{live_app.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {sdk.api_key}", "Content-Type": "application/json"},
            content=content,
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_json"


# --- the size of the history -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_huge_assistant_turn_in_the_history_is_refused_and_not_stored(sdk):
    # Before: the question is limited to 4,000 characters, but a 9 MB earlier turn was stored.
    huge = "Up to 45 euros a day. " * 410_000  # about 9 MB
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(
            model="policies",
            messages=[
                {"role": "user", "content": "What is the meal allowance?"},
                {"role": "assistant", "content": huge},
                {"role": "user", "content": QUESTION},
            ],
        )
    assert refused.value.param == "messages"
    assert refused.value.code == "context_length_exceeded"
    assert "API_MAX_INPUT_CHARS" in refused.value.message
    assert "200,000" in refused.value.message
    # Every string counts, roles too.
    sent = len(huge) + len(QUESTION) + len("What is the meal allowance?") + len("useruserassistant")
    assert f"{sent:,} characters" in refused.value.message
    assert not Message.objects.exists()


# --- in process: the limit is a setting ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_history_limit_counts_every_message_and_is_a_setting(settings, people, corpora):
    client = api_client(token_for(people.reader))
    settings.API_MAX_INPUT_CHARS = 200
    earlier = [
        {"role": "user", "content": "What is the meal allowance?"},
        {"role": "assistant", "content": "Up to 45 euros a day [1]." + " " * 80},
    ]

    def complete(messages):
        return client.post(
            "/v1/chat/completions",
            data=json.dumps({"model": "policies", "messages": messages}),
            content_type="application/json",
        )

    too_long = complete([*earlier, {"role": "system", "content": "x" * 100}, *ASK])
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "context_length_exceeded"
    assert "at most 200 " in too_long.json()["error"]["message"]
    assert complete([*earlier, *ASK]).status_code == 200


# --- /v1/responses' parameters, for the validator its handler calls ------------------------------


def _refusal(body: dict) -> ApiError:
    with pytest.raises(ApiError) as error:
        openai_params_check({"model": "policies", "input": QUESTION, **body}, endpoint="responses")
    assert error.value.status == 400
    return error.value


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"text": {"format": {"type": "json_schema", "name": "a", "schema": {}}}},
         "text.format.type", "unsupported_value"),
        ({"text": {"format": {"type": "json_object"}}}, "text.format.type", "unsupported_value"),
        ({"tools": [{"type": "function", "name": "lookup"}]}, "tools[0].type", "unsupported_value"),
        ({"tools": [{"type": "file_search"}, {"type": "web_search"}]}, "tools[1].type",
         "unsupported_value"),
        ({"tool_choice": "required"}, "tool_choice", "unsupported_value"),
        ({"include": ["message.output_text.logprobs"]}, "include[0]", "unsupported_value"),
        ({"top_logprobs": 5}, "top_logprobs", "unsupported_parameter"),
        ({"background": True}, "background", "unsupported_parameter"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt", "unsupported_parameter"),
        ({"temperature": "hot"}, "temperature", "invalid_type"),
        ({"max_output_tokens": 8}, "max_output_tokens", "integer_below_min_value"),
        ({"input": 42}, "input", "invalid_type"),
        ({"store": "no"}, "store", "invalid_type"),
    ],
)  # fmt: skip
def test_responses_parameters_docent_cannot_honour_are_named(body, param, code):
    error = _refusal(body)
    assert (error.field, error.code) == (param, code)


def test_responses_accepts_sampling_and_file_search(settings):
    openai_params_check(
        {
            "model": "policies",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}],
            "instructions": "Answer briefly.",
            "temperature": 0.3,
            "top_p": 1,
            "max_output_tokens": 500,
            "text": {"format": {"type": "text"}, "verbosity": "low"},
            "tools": [{"type": "file_search", "vector_store_ids": ["policies"]}],
            "tool_choice": "auto",
            "include": ["file_search_call.results"],
            "reasoning": {"effort": "low"},
            "truncation": "auto",
            "store": True,
            "stream": False,
            "metadata": {"k": "v"},
            "parallel_tool_calls": True,
            "background": False,
        },
        endpoint="responses",
    )


def test_responses_input_items_are_bounded_too(settings):
    settings.API_MAX_INPUT_CHARS = 100
    item = {"role": "assistant", "content": [{"type": "output_text", "text": "x" * 120}]}
    error = _refusal({"input": [item, {"role": "user", "content": QUESTION}]})
    assert (error.field, error.code) == ("input", "context_length_exceeded")

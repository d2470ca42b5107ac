"""Files (files_api.py), request recording, authentication and error shapes."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.sdk.helpers import raw_request


def test_files_upload_list_retrieve_content_and_delete(client: openai.OpenAI) -> None:
    first = client.files.create(file=("a.txt", b"alpha"), purpose="assistants")
    second = client.files.create(file=("你好.txt", "bêta".encode()), purpose="user_data")

    assert first.id.startswith("file-")
    assert len(first.id) == 27
    assert (first.filename, first.bytes, first.status) == ("a.txt", 5, "processed")
    assert second.filename == "你好.txt"
    assert [f.id for f in client.files.list()] == [second.id, first.id]
    assert [f.id for f in client.files.list(purpose="assistants")] == [first.id]
    assert [f.id for f in client.files.list(order="asc", limit=1).data] == [first.id]
    assert client.files.retrieve(first.id).id == first.id
    assert client.files.content(first.id).content == b"alpha"
    assert client.files.delete(first.id).deleted is True
    with pytest.raises(openai.NotFoundError) as raised:
        client.files.retrieve(first.id)
    assert raised.value.body["message"] == f"No such File object: {first.id}"


def test_requests_are_recorded_with_bodies_and_headers(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    client.files.create(file=("a.txt", b"alpha"), purpose="assistants")
    client.vector_stores.create(name="kb", metadata={"corpus": "7"})

    upload_request, store_request = fake_openai.requests
    assert upload_request.body == {"purpose": "assistants"}
    assert upload_request.uploads["file"].data == b"alpha"
    assert upload_request.headers["authorization"] == "Bearer test"
    assert store_request.body == {"name": "kb", "metadata": {"corpus": "7"}}
    assert fake_openai.requests_to("POST", r"/vector_stores$") == [store_request]


def test_a_missing_or_wrong_api_key_is_a_401(fake_openai: FakeOpenAIServer) -> None:
    status, body = raw_request(fake_openai, "GET", "/v1/models", None, {})
    assert status == 401
    assert set(body["error"]) == {"message", "type", "param", "code"}

    fake_openai.require_api_key = "sk-right"
    wrong = openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.models.list()
    assert raised.value.code == "invalid_api_key"
    right = openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-right", max_retries=0)
    assert right.models.list().data


def test_bad_requests_get_openai_style_errors(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(input="hi", extra_body={"model": None})  # type: ignore[call-overload]
    assert raised.value.param == "model"
    assert raised.value.code == "missing_required_parameter"
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve("vs_missing")
    status, body = raw_request(
        fake_openai, "POST", "/v1/chat/completions", b"{not json", {"Authorization": "Bearer t"}
    )
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    status, body = raw_request(
        fake_openai, "GET", "/v1/nowhere", None, {"Authorization": "Bearer t"}
    )
    assert (status, body["error"]["message"]) == (404, "Invalid URL (GET /v1/nowhere)")

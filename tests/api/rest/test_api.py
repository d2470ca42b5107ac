"""The REST API as a whole (api/rest/__init__.py): error shapes, the rate limit, the root,
the schema and its docs page."""

from __future__ import annotations

import pytest

from api.models import ApiToken
from tests.api.conftest import api_client, token_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/corpora/policies/search", "q"),
        ("/api/corpora/policies/search?q=x&k=0", "k"),
        ("/api/corpora/policies/search?q=x&k=101", "k"),
        ("/api/corpora/policies/search?q=x&mode=magic", "mode"),
        ("/api/corpora/policies/documents?limit=0", "limit"),
        ("/api/corpora/policies/documents?status=lost", "status"),
        ("/api/corpora/bad%20slug/documents", "slug"),
        ("/api/documents/0", "document_id"),
    ],
)
def test_validation_errors_name_the_field(client, policies, url, field):
    response = client.get(url)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["field"] == field
    assert error["message"]
    assert error["retryable"] is False


def test_the_rate_limit_answers_429_with_retry_after(client, settings, policies):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    assert client.get("/api/corpora").status_code == 200
    assert client.get("/v1/models").status_code == 200
    response = client.get("/api/corpora")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["retryable"] is True
    assert f"Wait {response['Retry-After']} seconds" in error["message"]
    openai = client.get("/v1/models")
    assert openai.status_code == 429
    assert openai["Retry-After"]
    assert openai.json()["error"]["code"] == "rate_limit_exceeded"
    # Other tokens have their own budget.
    other = api_client(token_for(ApiToken.objects.get().user))
    assert other.get("/api/corpora").status_code == 200


def test_unknown_paths_and_methods_answer_in_each_apis_error_shape(client):
    rest = client.post("/api/nowhere", {})
    assert rest.status_code == 404
    assert rest.json()["error"]["code"] == "not_found"
    openai = client.get("/v1/engines")
    assert openai.status_code == 404
    assert set(openai.json()["error"]) == {"message", "type", "param", "code"}
    wrong = client.put("/api/corpora")
    assert wrong.status_code == 405
    assert wrong["Allow"] == "GET"
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    wrong = client.get("/v1/chat/completions")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["type"] == "invalid_request_error"


def test_the_api_root_points_to_the_docs(client):
    assert client.get("/api/").json()["docs"] == "http://testserver/api/docs"


def test_the_schema_and_its_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "Docent API"
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    assert "/api/corpora/{slug}/ask" in schema["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert '"validatorUrl": null' in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-init.js"):
        response = client.get(f"/static/ninja/{asset}")
        assert response.status_code == 200, asset

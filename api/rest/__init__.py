"""The REST API under /api/: django-ninja, bearer tokens, one error shape.

Interactive docs at /api/docs (Swagger UI served from ninja's bundled static files, so it works
without internet access) and the schema at /api/openapi.json.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Swagger

from api.auth import TokenAuth
from api.errors import (
    ApiError,
    install_error_handlers,
    not_found,
    rest_error_body,
    with_json_method_errors,
)
from api.rest import conversations, corpora, documents, evaluation

DESCRIPTION = """\
Search, ask and manage the documents of the corpora your token may use.

**Authentication**: every request sends `Authorization: Bearer dct_…`. Create tokens under
[/api/tokens/](/api/tokens/). A token's scopes name corpora (or `*`) and permissions:
`query` (list, search, ask, read documents and conversations), `ingest` (upload and delete
documents) and `manage`. A token never grants more than its user has: `query` also needs the
reader role in the corpus, `ingest` the contributor role, `manage` the manager role.

**Status codes**: 401 for a missing, invalid, expired or revoked token; 404 for anything the
token cannot see (a corpus its user may not read or its scopes do not name, someone else's
conversation); 403 when the token can see the corpus but lacks the permission (or its user the
role) for this request; 422 for invalid input, naming the field; 429 when the token's rate
limit is exhausted (see `Retry-After`).

**Errors** always look like
`{"error": {"code": "not_found", "message": "…", "field": null, "retryable": false}}`;
`retryable` says whether the same request may work later.
"""

api = NinjaAPI(
    title="Docent API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="rest_api",
    auth=TokenAuth(),
    # Swagger UI's online validator would call swagger.io; the bundle itself is local.
    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": True}),
)


def render_error(request: HttpRequest, error: ApiError) -> HttpResponse:
    return JsonResponse(rest_error_body(error), status=error.status)


install_error_handlers(api, render_error)
api.add_router("", corpora.router)
api.add_router("", documents.router)
api.add_router("", conversations.router)
api.add_router("", evaluation.router)
urls = with_json_method_errors(api.urls, render_error)


def api_root(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "docs": request.build_absolute_uri("/api/docs"),
            "openapi": request.build_absolute_uri("/api/openapi.json"),
            "openai_base_url": request.build_absolute_uri("/v1"),
            "tokens": request.build_absolute_uri("/api/tokens/"),
        }
    )


@csrf_exempt
def unknown_endpoint(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other path under /api/: the same JSON 404."""
    return render_error(request, not_found(f"There is no endpoint {request.path}."))

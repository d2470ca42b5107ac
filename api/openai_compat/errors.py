"""OpenAI's error shape, {"error": {"message", "type", "param", "code"}}, with its status codes
and its codes, for every /v1 endpoint.

`code` uses OpenAI's vocabulary only, never the REST API's (`invalid`, `not_found`, ...):

- 400 `invalid_request_error`: OpenAI's parameter codes (`invalid_type`, `invalid_value`,
  `missing_required_parameter`, `empty_array`, `string_above_max_length`, the range codes such
  as `decimal_above_max_value`, `unsupported_parameter`, `unsupported_value`,
  `context_length_exceeded`), and `invalid_json` for a body that is not a JSON object;
- 401 `invalid_api_key`; 429 (type `requests`) `rate_limit_exceeded`;
- 404: `model_not_found` for a corpus the token may not query; null for an unknown URL
  ("Invalid URL (POST /v1/...)", OpenAI's words) and for an object that does not exist;
- 403 (type `permission_error`), 405 ("Invalid method for URL (GET /v1/...)"), 413: null;
- 500 / 503 (type `server_error`): the answering strategy's reason (`rate_limited`,
  `timeout`, ...) or null.

That is what the recordings of OpenAI's errors show (../shared/openai/recordings: a missing file
is a 404 with `code: null` and `param: "id"`, a bad option a 400 with `code: null` or a
parameter code). Handlers raise `ApiError`s with the OpenAI code where one applies; the REST
codes that `api.errors.api_error_from` gives to framework errors are translated here.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from api.errors import ApiError

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}
# REST codes (api.errors) that OpenAI has no code for, or spells differently.
_REST_CODES: dict[str, str | None] = {
    "unauthorized": "invalid_api_key",
    "invalid": "invalid_value",
    "bad_request": None,
    "not_found": None,
    "forbidden": None,
    "too_large": None,
    "method_not_allowed": None,
    "http_error": None,
    "internal": None,
    "unknown_url": None,
}


def openai_code(error: ApiError) -> str | None:
    if error.status == 429:
        return "rate_limit_exceeded"
    return _REST_CODES.get(error.code, error.code)


def openai_error_body(error: ApiError) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": _TYPES.get(error.status, "server_error"),
            "param": error.field,
            "code": openai_code(error),
        }
    }


def render_error(request: HttpRequest, error: ApiError) -> HttpResponse:
    # Validation problems (and file types it does not read) are 400s at OpenAI.
    status = 400 if error.status in (415, 422) else error.status
    if error.code == "method_not_allowed":
        error = ApiError(
            405, error.code, f"Invalid method for URL ({request.method} {request.path})."
        )
    response = JsonResponse(openai_error_body(error), status=status)
    if status >= 500:
        # The OpenAI SDKs honour this instead of retrying every 5xx.
        response["x-should-retry"] = "true" if error.retryable else "false"
    return response


@csrf_exempt
def unknown_endpoint(request: HttpRequest, rest: str = "") -> HttpResponse:
    return render_error(
        request,
        # OpenAI's own words for a path it does not serve.
        ApiError(404, "unknown_url", f"Invalid URL ({request.method} {request.path})."),
    )

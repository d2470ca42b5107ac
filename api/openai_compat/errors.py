"""OpenAI's error shape: {"error": {"message", "type", "param", "code"}}, with its status codes
(401 invalid_api_key, 404 model_not_found, 429 rate_limit_exceeded, 400 invalid_request_error)."""

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
    422: "invalid_request_error",
    429: "requests",
}
_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def openai_error_body(error: ApiError) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": _TYPES.get(error.status, "server_error"),
            "param": error.field,
            "code": _CODES.get(error.status, error.code),
        }
    }


def render_error(request: HttpRequest, error: ApiError) -> HttpResponse:
    # Validation problems are 400s at OpenAI, not 422s.
    status = 400 if error.status == 422 else error.status
    response = JsonResponse(openai_error_body(error), status=status)
    if status >= 500:
        # The OpenAI SDKs honour this instead of retrying every 5xx.
        response["x-should-retry"] = "true" if error.retryable else "false"
    return response


@csrf_exempt
def unknown_endpoint(request: HttpRequest, rest: str = "") -> HttpResponse:
    return render_error(
        request,
        ApiError(
            404, "unknown_url", f"Unrecognized request URL ({request.method}: {request.path})."
        ),
    )

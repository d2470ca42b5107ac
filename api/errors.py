"""Errors of both HTTP APIs, decided once and rendered in two shapes.

The REST API answers ``{"error": {"code", "message", "field", "retryable"}}``; the OpenAI-compatible
endpoints answer OpenAI's ``{"error": {"message", "type", "param", "code"}}``. Every exception a
handler can meet is first turned into an `ApiError` by `api_error_from`, so both shapes agree on
status codes and messages.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    ValidationError,
)
from django.http import Http404, HttpRequest, HttpResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from chat.strategies.base import StrategyError
from documents.backends.base import IndexingError
from documents.parsing import ParseErrorCode
from documents.services import UploadRefused

logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = (
    "Something went wrong on our side. Try again; if it keeps happening, tell an administrator."
)
UNAUTHORIZED_MESSAGE = (
    "Send a valid API token as “Authorization: Bearer dct_…”. It may be missing, mistyped, "
    "expired or revoked; create one under /api/tokens/."
)


class ApiError(Exception):
    """An error answer: status, a stable code, a sentence for people, the offending field, and
    whether the same request may work later."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        retryable: bool = False,
        headers: Mapping[str, str] | None = None,
        details: Sequence[Mapping[str, Any]] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retryable = retryable
        self.headers = dict(headers or {})
        self.details = list(details)
        self.extra = dict(extra or {})


class RateLimited(ApiError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            "rate_limited",
            f"This token made too many requests. Wait {retry_after} seconds and try again.",
            retryable=True,
            headers={"Retry-After": str(retry_after)},
        )


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def api_error_from(exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AuthenticationError):
        return ApiError(
            401, "unauthorized", UNAUTHORIZED_MESSAGE, headers={"WWW-Authenticate": "Bearer"}
        )
    if isinstance(exc, NinjaValidationError):
        details: list[tuple[str | None, str]] = [
            (_field(error.get("loc", ())), str(error.get("msg", "Invalid.")))
            for error in exc.errors
        ]
        return _invalid(details)
    if isinstance(exc, UploadRefused) and exc.reason == ParseErrorCode.UNSUPPORTED:
        return ApiError(415, "unsupported_file", " ".join(exc.messages), field="file")
    if isinstance(exc, ValidationError):
        return _from_django_validation(exc)
    if isinstance(exc, Http404):
        return not_found(str(exc) or "Not found.")
    if isinstance(exc, PermissionDenied):
        return ApiError(403, "forbidden", str(exc) or "Not allowed.")
    if isinstance(exc, RequestDataTooBig):
        return ApiError(413, "too_large", "The request body is too large.")
    if isinstance(exc, MultiPartParserError | UnreadablePostError):
        return ApiError(400, "bad_request", f"The request body could not be read: {exc}")
    if isinstance(exc, SuspiciousOperation):
        return ApiError(400, "bad_request", str(exc) or "The request could not be read.")
    if isinstance(exc, HttpError):
        code = "bad_request" if exc.status_code == 400 else "http_error"
        return ApiError(exc.status_code, code, exc.message, retryable=exc.status_code >= 500)
    if isinstance(exc, IndexingError):
        if exc.retryable:
            return ApiError(503, "index_unavailable", str(exc), retryable=True)
        return ApiError(400, "index_refused", str(exc))
    if isinstance(exc, StrategyError):
        return ApiError(503 if exc.retryable else 500, exc.code, str(exc), retryable=exc.retryable)
    logger.exception("api: unexpected error", exc_info=exc)
    return ApiError(500, "internal", INTERNAL_MESSAGE, retryable=True)


def _from_django_validation(exc: ValidationError) -> ApiError:
    if hasattr(exc, "error_dict"):
        details: list[tuple[str | None, str]] = [
            (None if field == "__all__" else field, message)
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    else:
        details = [(None, message) for message in exc.messages]
    return _invalid(details)


def _invalid(details: list[tuple[str | None, str]]) -> ApiError:
    field, message = details[0] if details else (None, "Invalid request.")
    return ApiError(
        422,
        "invalid",
        message,
        field=field,
        details=[{"field": f, "message": m} for f, m in details],
    )


def _field(loc: Sequence[Any]) -> str | None:
    """ninja's error location ("body", "payload", "messages", 0, "role") as a field path
    ("messages[0].role")."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "form", "file", "header", "cookie"):
        source = parts.pop(0)
        # Bodies are wrapped in the handler's parameter name; query and path names are the field.
        if source == "body" and len(parts) > 1:
            parts.pop(0)
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or None


def rest_error_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": error.code,
        "message": error.message,
        "field": error.field,
        "retryable": error.retryable,
    }
    if len(error.details) > 1:
        body["details"] = error.details
    return {"error": {**body, **error.extra}}


def install_error_handlers(
    api: NinjaAPI, render: Callable[[HttpRequest, ApiError], HttpResponse]
) -> None:
    """Route every exception of `api` through `api_error_from` and `render`."""

    def handle(request: HttpRequest, exc: Exception) -> HttpResponse:
        error = api_error_from(exc)
        response = render(request, error)
        for header, value in error.headers.items():
            response[header] = value
        return response

    for exc_class in (Exception, Http404, HttpError, NinjaValidationError):
        api.add_exception_handler(exc_class, handle)  # type: ignore[arg-type]


Render = Callable[[HttpRequest, ApiError], HttpResponse]
NinjaUrls = tuple[list[URLResolver | URLPattern], str, str]


def with_json_method_errors(urls: NinjaUrls, render: Render) -> NinjaUrls:
    """ninja answers a wrong method with a plain-text 405; answer it in the API's shape."""
    for pattern in urls[0]:
        if isinstance(pattern, URLPattern):
            pattern.callback = _json_405(pattern.callback, render)
    return urls


def _json_405(view: Callable[..., Any], render: Render) -> Callable[..., Any]:
    def convert(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code != 405:
            return response
        error = ApiError(405, "method_not_allowed", f"{request.method} is not allowed here.")
        converted = render(request, error)
        converted["Allow"] = response.get("Allow", "")
        return converted

    if inspect.iscoroutinefunction(view):

        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return convert(request, await view(request, *args, **kwargs))

        wrapper: Callable[..., Any] = async_wrapper
    else:

        def sync_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return convert(request, view(request, *args, **kwargs))

        wrapper = sync_wrapper
    wrapper.csrf_exempt = True  # type: ignore[attr-defined]
    return wrapper

"""Request ids for the HTTP APIs, as OpenAI's `x-request-id`; trailing-slash paths answered.

Every response gets an ``x-request-id: req_<32 hex>`` header (the OpenAI SDKs expose it as
``response._request_id`` / ``error.request_id``), and each /v1 and /api request is logged once
with it, so a user who quotes the id from an error can be found in the log. Log lines written
while a request is handled carry it too: `RequestIdFilter` puts it on every record as
``%(request_id)s`` ("-" outside a request).

A client may send its own ``X-Client-Request-Id`` (ASCII, at most 512 characters, as OpenAI
accepts it); it is echoed back and logged beside Docent's id.

CORS for the same paths is django-cors-headers' `CorsMiddleware`, configured in settings
(`CORS_ALLOWED_ORIGINS`, `CORS_URLS_REGEX`).
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.urls import Resolver404, resolve
from django.utils.decorators import sync_and_async_middleware

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
CLIENT_ID_HEADER = "X-Client-Request-Id"
_API_PATH = re.compile(r"^/(v1|api)(/|$)")
_CLIENT_ID = re.compile(r"^[\x21-\x7e]{1,512}$")

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "docent_request_id", default="-"
)


def request_id_new() -> str:
    return f"req_{uuid.uuid4().hex}"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (for the log format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


class RequestIdMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        if self.async_mode:
            return self.__acall__(request)
        started = self._start(request)
        response = self.get_response(request)
        assert not isinstance(response, Awaitable)
        return self._finish(request, response, started)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        started = self._start(request)
        response = await self.get_response(request)  # type: ignore[misc]
        return self._finish(request, response, started)

    def _start(self, request: HttpRequest) -> float:
        request_id = request_id_new()
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset on the way out: Django logs "Not Found" and "Internal Server Error" after
        # the middleware has returned, and those lines should carry the id too. Each request
        # sets its own (an ASGI request runs in its own task, so in its own context).
        current_request_id.set(request_id)
        return time.monotonic()

    def _finish(
        self, request: HttpRequest, response: HttpResponseBase, started: float
    ) -> HttpResponseBase:
        request_id: str = request.request_id  # type: ignore[attr-defined]
        response[REQUEST_ID_HEADER] = request_id
        client_id = request.headers.get(CLIENT_ID_HEADER, "")
        if client_id and not _CLIENT_ID.fullmatch(client_id):
            client_id = ""
        if client_id:
            response[CLIENT_ID_HEADER] = client_id
        if _API_PATH.match(request.path):
            # For a stream, the time to its first byte: the body is still being written.
            logger.info(
                "request %s: %s %s -> %s in %d ms%s",
                request_id,
                request.method,
                request.path,
                response.status_code,
                (time.monotonic() - started) * 1000,
                f" (client id {client_id})" if client_id else "",
            )
        return response


def _catch_all(path: str) -> bool:
    """Whether `path` only reaches an API's "unknown endpoint" answer."""
    try:
        match = resolve(path)
    except Resolver404:
        return True
    return getattr(match.func, "__name__", "") == "unknown_endpoint"


@sync_and_async_middleware
def trailing_slash_middleware(get_response: Callable[..., Any]) -> Callable[..., Any]:
    """``/v1/models/`` answers as ``/v1/models`` does (and so for every /v1 and /api path).

    The SDKs never add a slash, but hand-written clients and some tools do (DEVONthink asks for
    ``/v1/models/``). OpenAI itself answers those with a 404; answering them is kinder and
    costs nothing. Never a redirect: many clients turn a redirected POST into a GET, and a
    browser refuses a redirect in answer to a CORS preflight.
    """

    def rewrite(request: HttpRequest) -> None:
        path = request.path_info
        if len(path) > 5 and path.endswith("/") and _API_PATH.match(path):
            stripped = path.rstrip("/")
            if _catch_all(path) and not _catch_all(stripped):
                cut = len(path) - len(stripped)
                request.path_info = stripped
                request.path = request.path[:-cut]

    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> Any:
            rewrite(request)
            return await get_response(request)

        return async_middleware

    def middleware(request: HttpRequest) -> Any:
        rewrite(request)
        return get_response(request)

    return middleware


def _too_large(request: HttpRequest) -> HttpResponseBase | None:
    """A 413 in the API's error shape for a non-upload body over DATA_UPLOAD_MAX_MEMORY_SIZE.

    Django only notices when something reads `request.body`, and the first to do so may be a
    middleware, whose exception Django turns into an HTML 400 page: say it here, as the API."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None or not _API_PATH.match(request.path_info):
        return None
    if (request.content_type or "").startswith("multipart/"):
        return None  # uploads: their files do not count towards the limit
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length <= limit:
        return None
    from api.errors import ApiError

    error = ApiError(
        413,
        "too_large",
        f"The request body is too large: {length:,} bytes, at most {limit:,} are accepted.",
    )
    if request.path_info.startswith("/v1"):
        from api.openai_compat.errors import render_error
    else:
        from api.rest import render_error
    return render_error(request, error)


@sync_and_async_middleware
def body_limit_middleware(get_response: Callable[..., Any]) -> Callable[..., Any]:
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> Any:
            return _too_large(request) or await get_response(request)

        return async_middleware

    def middleware(request: HttpRequest) -> Any:
        return _too_large(request) or get_response(request)

    return middleware

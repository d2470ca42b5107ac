"""Request hygiene and response headers that apply to every view.

- `reject_nul_middleware`: PostgreSQL cannot store NUL (U+0000) in text, so a NUL typed into any
  field (a query string, a form, a JSON body, an uploaded file's name, the path) would reach the
  database and fail there with a 500. It is refused up front with a 400 that says why, in the
  API's error shape under /api/ and /v1/ and as the site's error page elsewhere.
- `no_store_middleware`: API answers and document downloads are never kept by browsers or proxies
  (`Cache-Control: no-store`): they hold corpus content and must not outlive the session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.multipartparser import MultiPartParserError
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import sync_and_async_middleware

GetResponse = Callable[[HttpRequest], Any]

NUL_MESSAGE = (
    "The request contains a NUL character (\\x00 or %00), which no text in Docent may hold. "
    "Remove it and try again."
)
API_PREFIXES = ("/api/", "/v1/")
# Views that return a document's original file.
NO_STORE_VIEWS = frozenset({"documents:download"})
_JSON_NUL = re.compile(rb"\\u0000", re.IGNORECASE)


def _has_nul(values: Iterable[str]) -> bool:
    return any("\x00" in value for value in values)


def _json_has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_json_has_nul(key) or _json_has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_json_has_nul(item) for item in value)
    return False


def request_has_nul(request: HttpRequest) -> bool:
    """Whether any text the request carries contains NUL. Bodies that are neither forms nor
    JSON (uploads of raw bytes) are data, not text, and are left alone."""
    if "\x00" in request.path:
        return True
    if _has_nul(request.GET.keys()) or _has_nul(request.GET.values()):
        return True
    content_type = request.content_type or ""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if _has_nul(request.POST.keys()) or _has_nul(request.POST.values()):
            return True
        return any(
            "\x00" in (upload.name or "")
            for uploads in request.FILES.lists()
            for upload in uploads[1]
        ) or _has_nul(request.FILES.keys())
    if content_type == "application/json" or content_type.endswith("+json"):
        body = request.body
        if b"\x00" not in body and not _JSON_NUL.search(body):
            return False
        try:
            return _json_has_nul(json.loads(body))
        except ValueError:
            return b"\x00" in body  # invalid JSON is the view's to refuse
    return False


def _bad_request(request: HttpRequest, message: str = NUL_MESSAGE) -> HttpResponse:
    if request.path.startswith(API_PREFIXES):
        from api.errors import ApiError

        error = ApiError(400, "bad_request", message)
        if request.path.startswith("/v1/"):
            from api.openai_compat.errors import render_error
        else:
            from api.rest import render_error
        return render_error(request, error)
    return HttpResponseBadRequest(render_to_string("400.html", {"reason": message}, request))


def _check(request: HttpRequest) -> HttpResponse | None:
    """The refusal for a request that carries NUL, or a form body that cannot be read (which
    the check reads first, so it answers in the page's or API's shape as the view would)."""
    try:
        return _bad_request(request) if request_has_nul(request) else None
    except MultiPartParserError as error:
        return _bad_request(request, f"The multipart body could not be read: {error}")


@sync_and_async_middleware
def reject_nul_middleware(get_response: GetResponse) -> GetResponse:
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            refused = _check(request)
            if refused is not None:
                return refused
            return await get_response(request)  # type: ignore[no-any-return,misc]

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        refused = _check(request)
        if refused is not None:
            return refused
        return get_response(request)  # type: ignore[return-value]

    return middleware


def _no_store(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    match = getattr(request, "resolver_match", None)
    if request.path.startswith(API_PREFIXES) or (match and match.view_name in NO_STORE_VIEWS):
        add_never_cache_headers(response)
    return response


@sync_and_async_middleware
def no_store_middleware(get_response: GetResponse) -> GetResponse:
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            return _no_store(request, await get_response(request))  # type: ignore[misc]

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        return _no_store(request, get_response(request))  # type: ignore[arg-type]

    return middleware


# --- sign-in throttling ------------------------------------------------------------------------

try:
    from axes.backends import AxesStandaloneBackend
except ImportError:  # pragma: no cover - django-axes is a dependency
    AxesStandaloneBackend = object  # type: ignore[assignment,misc]


class LockoutBackend(AxesStandaloneBackend):  # type: ignore[misc,valid-type]
    """django-axes' check of sign-ins over HTTP (by account and by client address). Sign-ins
    without a request (the test client, `manage.py shell`) are not throttled: they have no
    client address, and django-axes would refuse them outright."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> Any:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def lockout_response(request: HttpRequest, credentials: Any, *args: Any, **kwargs: Any) -> Any:
    """The page a locked-out sign-in gets (AXES_LOCKOUT_CALLABLE): 429, why, and how long."""
    from django.conf import settings
    from django.shortcuts import render

    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    return render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes, "limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )

"""Who is acting and from where, for events recorded deep inside services and signals.

AuditContextMiddleware keeps the current request in a context variable for the length of the
request; code without a request (workers, commands, periodic tasks) records as the system.
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "audit_request", default=None
)

API_PREFIXES = ("/api/", "/v1/")


@dataclass(frozen=True)
class Origin:
    actor: Any  # a User, or None for the system / an anonymous caller
    channel: str
    client_address: str | None
    user_agent: str


def current_request() -> HttpRequest | None:
    return _request.get()


@contextmanager
def request_context(request: HttpRequest) -> Iterator[None]:
    reset = _request.set(request)
    try:
        yield
    finally:
        _request.reset(reset)


class AuditContextMiddleware:
    """Makes the request known to audit records made while it is handled. Goes after
    AuthenticationMiddleware (the user is read when an event is recorded, so an API token
    authenticated later in the request is seen too)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_context(request):
            return self.get_response(request)


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the sign-in throttling (django-axes) sees it, so that the log
    and the lockouts agree: its AXES_CLIENT_IP_CALLABLE / ipware proxy settings apply, and
    without them REMOTE_ADDR (the proxy's address when behind one)."""
    address: str | None = None
    if _axes_installed():
        from axes.helpers import get_client_ip_address

        address = get_client_ip_address(request)
    address = address or request.META.get("REMOTE_ADDR")
    if not address:
        return None
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def _axes_installed() -> bool:
    # Importing axes.helpers loads its models, which needs the app installed.
    return apps.is_installed("axes")


def origin(*, request: HttpRequest | None = None, actor: Any = None) -> Origin:
    request = request if request is not None else current_request()
    if request is None:
        return Origin(actor=actor, channel="system", client_address=None, user_agent="")
    if actor is None:
        actor = request_actor(request)
    channel = "api" if request.path.startswith(API_PREFIXES) else "web"
    return Origin(
        actor=actor,
        channel=channel,
        client_address=client_address(request),
        user_agent=request.headers.get("User-Agent", "")[:300],
    )


def request_actor(request: HttpRequest) -> Any:
    """The signed-in user, or the owner of the API token that authenticated the request."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    token = getattr(request, "auth", None)
    token_user = getattr(token, "user", None)
    if token_user is not None:
        return token_user
    return None

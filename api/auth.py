"""Bearer authentication with API tokens, and the per-token rate limit, for both APIs."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ninja.security import HttpBearer

from api import services
from api.errors import RateLimited

if TYPE_CHECKING:
    from django.http import HttpRequest

    from api.models import ApiToken


class TokenAuth(HttpBearer):
    """`Authorization: Bearer dct_…`. Counts the request against the token's rate limit once
    the token is known, so a 429 is only ever about a valid token."""

    def __call__(self, request: HttpRequest) -> ApiToken | None:
        # ninja's HttpBearer logs a malformed header in DEBUG; it may hold a token.
        scheme, _, value = request.headers.get(self.header, "").partition(" ")
        if scheme.lower() != self.openapi_scheme or not value.strip():
            return None
        return self.authenticate(request, value)

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        api_token = services.token_authenticate(plaintext=token.strip())
        if api_token is None:
            return None
        retry_after = services.token_rate_limit(token=api_token)
        if retry_after is not None:
            raise RateLimited(retry_after)
        return api_token


def request_token(request: HttpRequest) -> ApiToken:
    """The token that authenticated `request` (set by ninja after TokenAuth)."""
    return cast("ApiToken", request.auth)  # type: ignore[attr-defined]

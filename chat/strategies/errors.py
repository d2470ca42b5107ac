"""Translate OpenAI SDK exceptions into StrategyError at the strategy boundary."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import openai

from chat.strategies.base import StrategyError


def server_name(client: Any) -> str:
    url = str(getattr(client, "base_url", "") or "")
    host = urlparse(url).hostname or url
    return "OpenAI" if host in ("api.openai.com", "") else host


def translate_openai_error(error: Exception, *, service: str) -> StrategyError:
    """`service` names the server in the message ("OpenAI", "the language model at host")."""
    if isinstance(error, openai.RateLimitError):
        return StrategyError(
            f"{service} is rate-limiting requests right now. Wait a minute and ask again.",
            retryable=True,
            code="rate_limited",
        )
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return StrategyError(
            f"{service} rejected the configured API key. An administrator needs to fix the "
            "key in the settings.",
            retryable=False,
            code="not_configured",
        )
    if isinstance(error, openai.APITimeoutError):
        return StrategyError(
            f"{service} did not answer in time. Try again in a moment.",
            retryable=True,
            code="unavailable",
        )
    if isinstance(error, openai.APIConnectionError):
        return StrategyError(
            f"{service} cannot be reached. Try again later; if it persists, an administrator "
            "should check the server address and network.",
            retryable=True,
            code="unavailable",
        )
    if isinstance(error, openai.InternalServerError):
        return StrategyError(
            f"{service} had an internal error. Try again in a moment.",
            retryable=True,
            code="unavailable",
        )
    if isinstance(error, openai.APIStatusError):
        return StrategyError(
            f"{service} refused the request ({error.status_code}): {_message(error)}",
            retryable=False,
            code="provider_error",
        )
    return StrategyError(f"{service} failed: {error}", retryable=True, code="provider_error")


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)
    return error.message

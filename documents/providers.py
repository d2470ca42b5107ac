"""The one place that talks to providers: it builds the OpenAI SDK clients (for OpenAI itself and
OpenAI-compatible servers) and says what an SDK error means.

Backends and strategies get their client from a ProviderClient and turn a failure into their
own error type from `classify(error)`: a ProviderFailure says what went wrong, whether trying
again later may help, and carries the provider's own message. The wording is the layer's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

if TYPE_CHECKING:
    import openai

FailureKind = Literal[
    "rate_limited",  # 429: too many requests right now
    "quota",  # 429 insufficient_quota: the account is out of credit
    "auth",  # 401, 403: the key is wrong or may not do this
    "timeout",  # no answer in time (or 408)
    "unreachable",  # no connection to the server
    "server_error",  # 5xx, 409, or a failure the provider reports as its own
    "refused",  # any other 4xx, or a reported failure of the request's content
    "not_found",  # 404
    "unknown",  # no status and no code that says more
]

# Failure codes a provider reports inside an answer (a stream's error event, a failed run or
# response, a vector-store file's last_error) that a later attempt may not meet again. Every
# other code names something wrong with the request or the content (invalid_prompt,
# unsupported_file, invalid_image, ...), which a retry would only repeat.
_TRANSIENT_CODES: dict[str, FailureKind] = {
    "rate_limit_exceeded": "rate_limited",
    "server_error": "server_error",
    "vector_store_timeout": "timeout",
}
_QUOTA = "insufficient_quota"


class ProviderNotConfigured(Exception):
    """No API key or base URL is configured for a provider that needs one."""


@dataclass(frozen=True)
class ProviderFailure:
    kind: FailureKind
    retryable: bool
    status: int | None  # the HTTP status; None when no HTTP answer says it
    message: str  # the provider's own message (or the SDK's, when no answer came)
    code: str | None = None  # the provider's error code, e.g. "model_not_found"


# --- clients --------------------------------------------------------------------------------


def openai_client(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> openai.OpenAI:
    """The process's client for these settings (each falls back to its OPENAI_* setting).

    Clients are cached by what they are built from, so a changed setting gets a new client
    on the next call; keep the client no longer than one operation.
    """
    base_url = base_url or settings.OPENAI_BASE_URL or None
    api_key = api_key or settings.OPENAI_API_KEY
    if not api_key:
        if base_url is None:
            raise ProviderNotConfigured(
                "No OpenAI API key is configured. Set OPENAI_API_KEY (or a base URL of an "
                "OpenAI-compatible server that needs no key)."
            )
        # Local servers (Ollama, llama.cpp, vLLM) usually ignore the key, but the SDK wants one.
        api_key = "not-needed"
    return _cached_client(
        base_url,
        api_key,
        float(timeout if timeout is not None else settings.OPENAI_TIMEOUT_SECONDS),
        int(max_retries if max_retries is not None else settings.OPENAI_MAX_RETRIES),
    )


@functools.lru_cache(maxsize=16)
def _cached_client(
    base_url: str | None, api_key: str, timeout: float, max_retries: int
) -> openai.OpenAI:
    import openai

    return openai.OpenAI(
        base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
    )


@receiver(setting_changed)
def _clear_client_cache(*, setting: str, **kwargs: object) -> None:
    # The key would tell new settings apart anyway; this lets go of clients of old ones.
    if setting.startswith("OPENAI_"):
        _cached_client.cache_clear()


@dataclass(frozen=True)
class ProviderClient:
    """How one backend or strategy gets its client: the one injected (tests do), else the
    shared one for its own base URL and key, looked up on every use so that changed settings
    take effect. Building it does no I/O and needs no credentials."""

    base_url: str | None = None
    api_key: str = ""
    client: openai.OpenAI | None = None

    def get(self) -> openai.OpenAI:
        """Raises ProviderNotConfigured when there is neither an API key nor a base URL."""
        if self.client is not None:
            return self.client
        return openai_client(base_url=self.base_url or None, api_key=self.api_key)


# --- failures -------------------------------------------------------------------------------


def classify(error: BaseException) -> ProviderFailure:
    """What an exception the SDK raised means."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        return ProviderFailure("timeout", retryable=True, status=None, message=error.message)
    if isinstance(error, openai.APIConnectionError):
        return ProviderFailure("unreachable", retryable=True, status=None, message=error.message)
    if isinstance(error, openai.APIStatusError):
        return _classify_status(error)
    # An `error` event in a stream (the SDK raises a bare APIError with the event's error as
    # its body) or something else the SDK raised: judged by its code like any failure the
    # provider reports while answering.
    return reported_failure(code=getattr(error, "code", None), message=provider_message(error))


def reported_failure(*, code: str | None, message: str) -> ProviderFailure:
    """A failure the provider reports inside an answer rather than as an HTTP error.

    Without a code nothing says the request itself was at fault, so it counts as retryable:
    the callers' retries are bounded, and giving up at once would lose an answer or a
    document to a hiccup.
    """
    if code is None:
        return ProviderFailure("unknown", retryable=True, status=None, message=message)
    if code == _QUOTA:
        return ProviderFailure("quota", retryable=False, status=None, message=message, code=code)
    if code in _TRANSIENT_CODES:
        kind = _TRANSIENT_CODES[code]
        return ProviderFailure(kind, retryable=True, status=None, message=message, code=code)
    return ProviderFailure("refused", retryable=False, status=None, message=message, code=code)


def _classify_status(error: openai.APIStatusError) -> ProviderFailure:
    status, code = error.status_code, error.code
    kind: FailureKind
    if status == 429:
        # Out of credit is no rate limit: waiting does not help until someone pays.
        kind = "quota" if _QUOTA in (code, error.type) else "rate_limited"
    elif status in (401, 403):
        kind = "auth"
    elif status == 404:
        kind = "not_found"
    elif status == 408:
        kind = "timeout"
    elif status == 409 or status >= 500:
        # The SDK retries 409 as a lock timeout on the provider's side.
        kind = "server_error"
    else:
        kind = "refused"  # 400, 410, 413, 415, 422: this request will not do
    retryable = kind in ("rate_limited", "timeout", "server_error")
    return ProviderFailure(
        kind, retryable=retryable, status=status, message=provider_message(error), code=code
    )


def provider_message(error: BaseException) -> str:
    """The provider's own words: the error body's message, else the SDK's."""
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        nested = body.get("error")
        message = body.get("message")
        if not message and isinstance(nested, dict):
            message = nested.get("message")
        if message:
            return str(message)
    return str(getattr(error, "message", None) or error)

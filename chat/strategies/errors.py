"""The strategies' side of documents.providers: their client, and provider failures as
StrategyError in words for the person asking (documents.providers decides what a failure is
and whether asking again may help)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from chat.strategies.base import StrategyError
from documents.providers import ProviderNotConfigured, classify

if TYPE_CHECKING:
    import openai

    from documents.providers import ProviderClient, ProviderFailure

# StrategyError.code by failure kind; the API and the web UI pass the code on as it is.
_CODES = {
    "rate_limited": "rate_limited",
    "quota": "quota_exceeded",
    "auth": "not_configured",
    "timeout": "unavailable",
    "unreachable": "unavailable",
    "server_error": "unavailable",
}


def strategy_client(provider: ProviderClient) -> openai.OpenAI:
    try:
        return provider.get()
    except ProviderNotConfigured as error:
        raise StrategyError(str(error), retryable=False, code="not_configured") from error


def server_name(client: Any) -> str:
    url = str(getattr(client, "base_url", "") or "")
    host = urlparse(url).hostname or url
    return "OpenAI" if host in ("api.openai.com", "") else host


def translate_openai_error(error: Exception, *, service: str) -> StrategyError:
    """`service` names the server in the message ("OpenAI", "the language model at host")."""
    return strategy_error(classify(error), service=service)


def strategy_error(failure: ProviderFailure, *, service: str) -> StrategyError:
    message = failure.message
    match failure.kind:
        case "rate_limited":
            sentence = (
                f"{service} is rate-limiting requests right now. Wait a minute and ask again."
            )
        case "quota":
            sentence = (
                f"{service} refused the request because the account's quota is used up "
                f"({message}). Asking again will not help until an administrator adds credit "
                "or raises the limit."
            )
        case "auth":
            sentence = (
                f"{service} rejected the configured API key. An administrator needs to fix the "
                "key in the settings."
            )
        case "timeout":
            sentence = f"{service} did not answer in time. Try again in a moment."
        case "unreachable":
            sentence = (
                f"{service} cannot be reached. Try again later; if it persists, an administrator "
                "should check the server address and network."
            )
        case "server_error":
            sentence = f"{service} had an internal error. Try again in a moment."
        case "refused" | "not_found":
            status = f" ({failure.status})" if failure.status else ""
            sentence = f"{service} refused the request{status}: {message}"
        case _:
            sentence = f"{service} failed: {message}"
    code = _CODES.get(failure.kind, "provider_error")
    return StrategyError(sentence, retryable=failure.retryable, code=code)


def answer_failed(failure: ProviderFailure, *, who: str) -> StrategyError:
    """A failure the provider reported while answering (a failed response or run, an error
    event), with its own reason."""
    code = _CODES[failure.kind] if failure.kind in ("rate_limited", "quota") else "provider_error"
    return StrategyError(
        f"{who} could not answer: {failure.message}", retryable=failure.retryable, code=code
    )

"""The one place that builds OpenAI SDK clients (for OpenAI itself and compatible servers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    import openai


class ProviderNotConfigured(Exception):
    """No API key or base URL is configured for a provider that needs one."""


def openai_client(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> openai.OpenAI:
    import openai

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
    return openai.OpenAI(
        base_url=base_url,
        api_key=api_key,
        timeout=timeout if timeout is not None else settings.OPENAI_TIMEOUT_SECONDS,
        max_retries=max_retries if max_retries is not None else settings.OPENAI_MAX_RETRIES,
    )

"""Small presentation helpers shared by the chat and document pages."""

from __future__ import annotations

from typing import Any

from django import template

from chat.strategies.base import StrategyError, get_strategy

register = template.Library()


@register.filter
def readiness(corpus: Any) -> str:
    """ "12 documents ready, 2 processing, 1 failed" from Corpus.objects.with_document_counts()."""
    ready = getattr(corpus, "documents_ready", 0)
    processing = getattr(corpus, "documents_processing", 0)
    failed = getattr(corpus, "documents_failed", 0)
    if not ready + processing + failed:
        return "No documents yet"
    parts = [f"{ready} document{'' if ready == 1 else 's'} ready"]
    if processing:
        parts.append(f"{processing} processing")
    if failed:
        parts.append(f"{failed} failed")
    return ", ".join(parts)


@register.filter
def strategy_label(key: str) -> str:
    """The strategy's label; the bare key if it is no longer configured."""
    if not key:
        return "an unknown method"
    try:
        return get_strategy(key).label
    except (StrategyError, ImportError):
        return key

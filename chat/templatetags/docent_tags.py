"""Small presentation helpers shared by the chat and document pages."""

from __future__ import annotations

from typing import Any

from django import template

from chat.strategies.base import StrategyError, get_strategy

register = template.Library()


@register.filter
def readiness(corpus: Any, failed_apart: str = "") -> str:
    """ "12 documents ready, 2 processing, 1 failed" from Corpus.objects.with_document_counts().

    With an argument ("failed_apart") the failed ones are left to `failed_note`: beside a
    green dot, "1 failed" read as an alarm with no explanation."""
    ready = getattr(corpus, "documents_ready", 0)
    processing = getattr(corpus, "documents_processing", 0)
    failed = getattr(corpus, "documents_failed", 0)
    if not ready + processing + failed:
        return "No documents yet"
    parts = [f"{ready} document{'' if ready == 1 else 's'} ready"]
    if processing:
        parts.append(f"{processing} processing")
    if failed and not failed_apart:
        parts.append(f"{failed} failed")
    return ", ".join(parts)


@register.filter
def failed_note(corpus: Any) -> str:
    """ "2 files could not be read" ("" when none failed)."""
    failed = getattr(corpus, "documents_failed", 0)
    if not failed:
        return ""
    return f"{failed} file{'' if failed == 1 else 's'} could not be read"


@register.filter
def strategy_label(key: str) -> str:
    """The strategy's label; the bare key if it is no longer configured."""
    if not key:
        return "an unknown method"
    try:
        return get_strategy(key).label
    except (StrategyError, ImportError):
        return key

"""How a question is answered: the contract every strategy implements, its events, its registry.

A strategy streams: it yields TextDelta and CitationFound events while it works and ends with
exactly one AnswerDone, which carries the final answer (with [n] markers matching the
citations), token usage and the provider state to keep on the conversation. A strategy that
learns what it retrieved before the answer ends says so with PassagesFound, so an answer that
is stopped or fails still records what it was given. Strategies raise only StrategyError.
`settings.CHAT_STRATEGIES` maps a key to {"BACKEND", "OPTIONS"}.

A strategy declares the abilities it needs of a corpus's index backend (`requires`, Protocols
from documents/backends/base.py); which strategies may answer from a corpus is decided against
the backend object, never its alias or class.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from documents.backends.base import SearchHit, ability_names, get_backend, has_abilities

if TYPE_CHECKING:
    from documents.models import Corpus


@dataclass(frozen=True)
class Citation:
    number: int  # the [n] marker in the answer
    document_id: int
    document: str  # filename
    page: int | None
    page_end: int | None
    quote: str  # the passage the answer relies on
    chunk_id: int | None = None
    char_start: int | None = None  # document-text coordinates, for highlighting
    char_end: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class CitationFound:
    citation: Citation


@dataclass(frozen=True)
class AnswerDone:
    answer: str
    citations: tuple[Citation, ...]
    usage: Usage
    # Per-conversation state to send back next turn (thread id, conversation id, ...).
    provider_state: dict[str, Any] = field(default_factory=dict)
    # Per-corpus state the strategy created (an assistant id, ...).
    corpus_state: dict[str, Any] = field(default_factory=dict)
    notice: str = ""  # shown with the answer, e.g. that it is extractive
    # False when the strategy found that the documents do not support an answer (nothing
    # relevant retrieved, or the model said the sources do not cover it): shown as "not found".
    grounded: bool = True
    # The passages given to the model (or quoted from), best first, and how they were found
    # (query, top-k, retrieval stages, confidence): kept as the answer's provenance.
    passages: tuple[SearchHit, ...] = ()
    retrieval: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PassagesFound:
    """The passages the answer is given, best first, as soon as they are known (before the
    text), and how they were found: the answer's provenance even if it is stopped or fails.
    A later PassagesFound replaces an earlier one; AnswerDone.passages, when set, wins."""

    passages: tuple[SearchHit, ...]
    retrieval: dict[str, Any] = field(default_factory=dict)


StrategyEvent = TextDelta | CitationFound | PassagesFound | AnswerDone


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


@dataclass(frozen=True)
class AnswerRequest:
    corpus: Corpus
    question: str
    history: tuple[Turn, ...]  # earlier turns of this conversation, oldest first
    provider_state: dict[str, Any]  # what this strategy returned last turn ({} at first)


class StrategyError(Exception):
    """`str(error)` is a sentence for the user; `retryable` says whether asking again later may
    work (rate limit, provider down) or not (misconfiguration, API shut down)."""

    def __init__(self, message: str, *, retryable: bool, code: str = "error") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


@runtime_checkable
class AnswerStrategy(Protocol):
    key: str
    label: str
    # The abilities the corpus's index backend must have (Searchable, RemoteStoreBackend, ...).
    requires: tuple[type, ...]
    # Shown to admins where the strategy is chosen (e.g. an API shutdown); "" when none.
    admin_notice: str

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]: ...


@functools.cache
def get_strategy(key: str) -> AnswerStrategy:
    try:
        config = settings.CHAT_STRATEGIES[key]
    except KeyError:
        raise StrategyError(
            f"Unknown answer strategy {key!r}; configured: {', '.join(settings.CHAT_STRATEGIES)}.",
            retryable=False,
            code="unknown_strategy",
        ) from None
    strategy = import_string(config["BACKEND"])(key=key, **config.get("OPTIONS", {}))
    assert isinstance(strategy, AnswerStrategy)
    return strategy


def strategy_supports(strategy: AnswerStrategy, index_backend: str) -> bool:
    return has_abilities(get_backend(index_backend), strategy.requires)


def strategies_for_backend(index_backend: str) -> list[AnswerStrategy]:
    """The configured strategies that can answer from corpora of this backend, in settings
    order."""
    return [
        strategy
        for strategy in map(get_strategy, settings.CHAT_STRATEGIES)
        if strategy_supports(strategy, index_backend)
    ]


def default_strategy_key(index_backend: str) -> str:
    """DEFAULT_CHAT_STRATEGIES' choice for the backend when it can answer, else the first
    compatible strategy."""
    compatible = [strategy.key for strategy in strategies_for_backend(index_backend)]
    preferred = settings.DEFAULT_CHAT_STRATEGIES.get(index_backend)
    if preferred in compatible:
        return str(preferred)
    if compatible:
        return compatible[0]
    raise StrategyError(
        f"No configured answer strategy can answer from the index backend {index_backend!r}.",
        retryable=False,
        code="no_strategy",
    )


def incompatibility(strategy: AnswerStrategy, index_backend: str) -> str:
    """Why `strategy` cannot answer from this backend's corpora ("" when it can)."""
    if strategy_supports(strategy, index_backend):
        return ""
    backend = get_backend(index_backend)
    missing = [ability for ability in strategy.requires if not isinstance(backend, ability)]
    return (
        f"{strategy.label} needs an index backend with {ability_names(missing)}, which "
        f"{index_backend!r} does not offer."
    )


@receiver(setting_changed)
def _clear_strategy_cache(*, setting: str, **kwargs: object) -> None:
    if setting == "CHAT_STRATEGIES":
        get_strategy.cache_clear()

"""Answer strategies that fail after a first delta, for the REST and OpenAI-compatible API tests
(settings.CHAT_STRATEGIES names them by dotted path)."""

from __future__ import annotations

from collections.abc import Iterator

from chat.strategies.base import AnswerRequest, StrategyError, StrategyEvent, TextDelta


class FailingStrategy:
    label = "Failing for tests"
    requires: tuple[type, ...] = ()  # answers from any index backend
    admin_notice = ""
    retryable = True

    def __init__(self, *, key: str) -> None:
        self.key = key

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        yield TextDelta("Partly ")
        raise StrategyError(
            "The language model server is rate-limiting requests right now. Wait a minute.",
            retryable=self.retryable,
            code="rate_limited" if self.retryable else "misconfigured",
        )


class BrokenStrategy(FailingStrategy):
    retryable = False

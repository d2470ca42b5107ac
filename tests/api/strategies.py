"""Answer strategies that fail (or are stopped) after a first delta, for the REST and
OpenAI-compatible API tests (settings.CHAT_STRATEGIES names them by dotted path)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from chat.strategies.base import (
    AnswerDone,
    AnswerRequest,
    StrategyError,
    StrategyEvent,
    TextDelta,
    Usage,
)


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


class StoppedStrategy:
    """Someone presses Stop in the web UI after the first words (the API client did not)."""

    label = "Stopped for tests"
    requires: tuple[type, ...] = ()
    admin_notice = ""

    def __init__(self, *, key: str) -> None:
        self.key = key

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        from chat import services
        from chat.models import Message, MessageRole, MessageStatus

        yield TextDelta("Partly ")
        answer = Message.objects.get(role=MessageRole.ASSISTANT, status=MessageStatus.STREAMING)
        services.message_stop(answer=answer)
        # The writer reads the Stop when it next stores the answer so far.
        time.sleep(services.LIVE_WRITE_SECONDS + 0.05)
        yield TextDelta("answered.")
        yield AnswerDone(answer="Partly answered.", citations=(), usage=Usage())

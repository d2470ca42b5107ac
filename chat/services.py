"""Conversations and answering: every write of the chat app.

`message_ask` is a generator: the web UI, the API and the CLI all iterate it to stream, and
`message_ask_collect` drains it for callers that want the whole answer. Every turn is stored
locally whatever happens: completed, failed (with the plain reason) or stopped by the user.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from chat import selectors
from chat.models import (
    Conversation,
    Feedback,
    FeedbackRating,
    Message,
    MessageRole,
    MessageStatus,
)
from chat.strategies.base import (
    AnswerDone,
    AnswerRequest,
    Citation,
    CitationFound,
    PassagesFound,
    StrategyError,
    TextDelta,
    Turn,
    default_strategy_key,
    get_strategy,
    incompatibility,
)
from documents.models import Corpus
from evaluation.provenance import provenance_record

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from documents.backends.base import SearchHit

logger = logging.getLogger(__name__)


# --- events that interfaces stream --------------------------------------------------------------


@dataclass(frozen=True)
class AskStarted:
    conversation: Conversation
    question: Message
    # The answer row, stored as "streaming" before the first token.
    answer: Message | None = None


@dataclass(frozen=True)
class AskStopped:
    message: Message  # stored with status "stopped": someone pressed Stop


@dataclass(frozen=True)
class AskCompleted:
    message: Message  # the stored answer, with citations, usage and timings


@dataclass(frozen=True)
class AskFailed:
    message: Message  # stored with status "error" and the reason in `error`
    retryable: bool
    code: str


AskEvent = AskStarted | TextDelta | CitationFound | AskCompleted | AskFailed | AskStopped


# --- conversations --------------------------------------------------------------------------------


def strategy_validate(*, corpus: Corpus, strategy: str) -> None:
    if strategy not in settings.CHAT_STRATEGIES:
        raise ValidationError(
            {
                "strategy": f"Unknown strategy {strategy!r}. Choose one of: "
                f"{', '.join(settings.CHAT_STRATEGIES)}."
            }
        )
    reason = incompatibility(get_strategy(strategy), corpus.index_backend)
    if reason:
        raise ValidationError({"strategy": f"{reason} “{corpus.name}” cannot be answered with it."})


def corpus_strategy(corpus: Corpus) -> str:
    return corpus.chat_strategy or default_strategy_key(corpus.index_backend)


def conversation_start(
    *,
    corpus: Corpus,
    user: User | None,
    strategy: str | None = None,
    title: str = "",
) -> Conversation:
    strategy = strategy or corpus_strategy(corpus)
    strategy_validate(corpus=corpus, strategy=strategy)
    conversation = Conversation.objects.create(
        corpus=corpus, user=user, strategy=strategy, title=title[:200]
    )
    logger.info("conversation %s started (corpus %s, %s)", conversation.pk, corpus.pk, strategy)
    return conversation


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    title = " ".join(title.split())
    if not title:
        raise ValidationError({"title": "A title cannot be empty."})
    conversation.title = title[:200]
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


def conversation_switch_strategy(*, conversation: Conversation, strategy: str) -> Conversation:
    """Later turns use `strategy`; the local history goes with them, so the new strategy sees
    every earlier turn (remote state of the old strategy is kept, but no longer used)."""
    strategy_validate(corpus=conversation.corpus, strategy=strategy)
    conversation.strategy = strategy
    conversation.save(update_fields=["strategy", "updated_at"])
    return conversation


def conversations_move_strategy(*, corpus: Corpus, from_strategy: str, to_strategy: str) -> int:
    """Move every conversation of a corpus to another strategy (e.g. off the Assistants API),
    and make it the corpus's default for new conversations."""
    strategy_validate(corpus=corpus, strategy=to_strategy)
    with transaction.atomic():
        moved = Conversation.objects.filter(corpus=corpus, strategy=from_strategy).update(
            strategy=to_strategy
        )
        if corpus.chat_strategy in ("", from_strategy):
            corpus.chat_strategy = to_strategy
            corpus.save(update_fields=["chat_strategy", "updated_at"])
    logger.info(
        "corpus %s: %s conversations moved from %s to %s",
        corpus.pk,
        moved,
        from_strategy,
        to_strategy,
    )
    return moved


def conversation_add_turns(*, conversation: Conversation, turns: Sequence[Turn]) -> None:
    """Store turns that happened elsewhere (a client sending its own history, as OpenAI-style
    clients do) as completed messages, so strategies and admins see them like any other."""
    messages = []
    for turn in turns:
        messages.append(
            Message(conversation=conversation, role=MessageRole.USER, content=turn.question)
        )
        messages.append(
            Message(
                conversation=conversation,
                role=MessageRole.ASSISTANT,
                content=turn.answer,
                status=MessageStatus.COMPLETE,
                notice="Supplied by the client, not answered here.",
            )
        )
    Message.objects.bulk_create(messages)


def conversation_history(
    conversation: Conversation, *, before: Message | None = None
) -> tuple[Turn, ...]:
    """Earlier completed turns of the current line (no replaced versions), oldest first, at
    most CHAT_HISTORY_TURNS; with `before`, only the turns asked before that question."""
    turns: list[Turn] = []
    question: str | None = None
    for message in selectors.conversation_shown(conversation):
        if before is not None and message.pk >= before.pk:
            break
        if message.role == MessageRole.USER:
            question = message.content
        elif question is not None and message.status == MessageStatus.COMPLETE:
            turns.append(Turn(question=question, answer=message.content))
            question = None
    return tuple(turns[-settings.CHAT_HISTORY_TURNS :])


# --- asking ---------------------------------------------------------------------------------------


def message_ask(*, conversation: Conversation, question: str) -> Iterator[AskEvent]:
    """Ask a question in a conversation and stream the answer.

    The answer row exists from the start (status "streaming") and holds the text so far, so
    any web process can show it while it is written and after the page that asked is gone.
    It ends complete, failed, or stopped: when someone asked for it (`message_stop`) or the
    consumer itself stopped iterating (the command line's Ctrl+C).
    """
    question = _question_clean(question)
    history = conversation_history(conversation)
    with transaction.atomic():
        question_message = Message.objects.create(
            conversation=conversation, role=MessageRole.USER, content=question
        )
        if not conversation.title:
            # Titled now, so a first turn that is stopped or fails still names the conversation.
            conversation.title = _title_from(question)
            conversation.save(update_fields=["title", "updated_at"])
    yield from _answer(conversation=conversation, question=question_message, history=history)


def message_regenerate(*, answer: Message) -> Iterator[AskEvent]:
    """Answer the last question again (also the retry after a failure or a Stop); the earlier
    answer stays reachable as a version but leaves the history the model sees."""
    conversation = answer.conversation
    shown = selectors.conversation_shown(conversation)
    if answer.role != MessageRole.ASSISTANT or not shown or shown[-1].pk != answer.pk:
        raise ValidationError({"message": "Only the latest answer can be answered again."})
    if selectors.answer_is_live(answer):
        raise ValidationError({"message": "This answer is still being written. Stop it first."})
    question = next(
        (message for message in reversed(shown) if message.role == MessageRole.USER), None
    )
    if question is None:
        raise ValidationError({"message": "There is no question to answer again."})
    history = conversation_history(conversation, before=question)
    yield from _answer(
        conversation=conversation, question=question, history=history, replaces=answer
    )


def message_edit(*, question: Message, text: str) -> Iterator[AskEvent]:
    """Replace the last question with an edited one and answer it; the earlier question and
    its answer stay reachable as a version."""
    text = _question_clean(text)
    conversation = question.conversation
    shown = selectors.conversation_shown(conversation)
    last_question = next(
        (message for message in reversed(shown) if message.role == MessageRole.USER), None
    )
    if (
        question.role != MessageRole.USER
        or last_question is None
        or last_question.pk != question.pk
    ):
        raise ValidationError({"message": "Only the latest question can be edited."})
    if any(selectors.answer_is_live(message) for message in shown if message.pk > question.pk):
        raise ValidationError({"message": "The answer is still being written. Stop it first."})
    history = conversation_history(conversation, before=question)
    edited = Message.objects.create(
        conversation=conversation, role=MessageRole.USER, content=text, replaces=question
    )
    yield from _answer(conversation=conversation, question=edited, history=history)


def message_stop(*, answer: Message) -> bool:
    """Ask whichever process writes `answer` to stop (it stores what was written as "stopped"
    at its next event). An answer whose process is gone is marked stopped here. False when
    the answer had already ended."""
    live = Message.objects.filter(
        pk=answer.pk, role=MessageRole.ASSISTANT, status=MessageStatus.STREAMING
    )
    if not selectors.answer_is_live(answer):
        return bool(live.update(status=MessageStatus.STOPPED))
    return bool(live.update(stop_requested=True))


def _question_clean(question: str) -> str:
    question = question.strip()
    if not question:
        raise ValidationError({"question": "Ask a question first."})
    if len(question) > settings.CHAT_MAX_QUESTION_CHARS:
        raise ValidationError(
            {"question": f"Questions are limited to {settings.CHAT_MAX_QUESTION_CHARS} characters."}
        )
    return question


# The partial answer (and its heartbeat) is written at most this often while it streams.
LIVE_WRITE_SECONDS = 0.25


def _answer(
    *,
    conversation: Conversation,
    question: Message,
    history: tuple[Turn, ...],
    replaces: Message | None = None,
) -> Iterator[AskEvent]:
    corpus = conversation.corpus
    answer = Message.objects.create(
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        strategy=conversation.strategy,
        status=MessageStatus.STREAMING,
        reply_to=question,
        replaces=replaces,
        heartbeat_at=timezone.now(),
    )
    strategy = get_strategy(conversation.strategy)
    request = AnswerRequest(
        corpus=corpus,
        question=question.content,
        history=history,
        provider_state=dict(conversation.provider_state.get(conversation.strategy, {})),
    )
    started = time.perf_counter()
    last_write = started
    parts: list[str] = []
    citations: list[dict[str, Any]] = []
    # What the answer was given and has cited so far: its provenance if it stops or fails.
    shown = _Shown()
    finished = False
    events = strategy.answer(request)
    try:
        yield AskStarted(conversation=conversation, question=question, answer=answer)
        for event in events:
            if isinstance(event, TextDelta):
                if not parts and _answer_stop_requested(answer):
                    # Stop was pressed before any text arrived ("Searching the documents…"):
                    # nothing was shown, so nothing is kept (not a first word or a heading).
                    finished = True
                    yield _answer_stopped(answer, parts, citations, started, shown, question)
                    return
                if answer.first_token_ms is None:
                    answer.first_token_ms = _ms_since(started)
                parts.append(event.text)
                yield event
            elif isinstance(event, CitationFound):
                citations.append(event.citation.as_dict())
                shown.citations.append(event.citation)
                yield event
            elif isinstance(event, PassagesFound):
                shown.passages, shown.retrieval = event.passages, event.retrieval
            elif isinstance(event, AnswerDone):
                _answer_complete(answer, event, started, conversation, question.content, shown)
                finished = True
                yield AskCompleted(message=answer)
                return
            # The first text at once (a reload right after it shows it), then at intervals;
            # always after the event went to the consumer, so it never delays a token.
            if (parts and last_write == started) or (
                time.perf_counter() - last_write >= LIVE_WRITE_SECONDS
            ):
                last_write = time.perf_counter()
                if not _answer_write_progress(answer, parts, citations):
                    finished = True
                    yield _answer_stopped(answer, parts, citations, started, shown, question)
                    return
        raise StrategyError(
            "The answer ended unexpectedly. Try again.", retryable=True, code="incomplete"
        )
    except StrategyError as error:
        logger.info(
            "conversation %s: %s failed (%s)", conversation.pk, conversation.strategy, error.code
        )
        answer.status = MessageStatus.ERROR
        answer.error = str(error)
        answer.content = "".join(parts)
        answer.citations = citations
        _answer_save(answer, started)
        _answer_shown(answer, shown, question.content)
        finished = True
        yield AskFailed(message=answer, retryable=error.retryable, code=error.code)
    except Exception:
        # A bug, not a provider problem: store the turn and tell the user without a traceback.
        logger.exception("conversation %s: unexpected error while answering", conversation.pk)
        answer.status = MessageStatus.ERROR
        answer.error = (
            f"Something went wrong while answering (reference: conversation {conversation.pk}). "
            "Try again; if it keeps happening, tell an administrator."
        )
        answer.content = "".join(parts)
        _answer_save(answer, started)
        _answer_shown(answer, shown, question.content)
        finished = True
        yield AskFailed(message=answer, retryable=True, code="internal")
    finally:
        # Closing the strategy's generator closes its HTTP stream to the provider.
        close = getattr(events, "close", None)
        if close is not None:
            close()
        if not finished:
            # The consumer stopped iterating: keep what was written.
            answer.status = MessageStatus.STOPPED
            answer.content = "".join(parts)
            answer.citations = citations
            _answer_save(answer, started)
            _answer_shown(answer, shown, question.content)


@dataclass
class _Shown:
    passages: tuple[SearchHit, ...] = ()
    retrieval: dict[str, Any] = field(default_factory=dict)
    citations: list[Citation] = field(default_factory=list)


def _answer_shown(answer: Message, shown: _Shown, question: str) -> None:
    """The provenance of a stopped or failed answer: what it had been given and had cited
    before it ended. Nothing is recorded when nothing was retrieved or cited yet; a failure
    to record is logged, never in the way of storing the answer itself."""
    if not shown.passages and not shown.citations:
        return
    try:
        with transaction.atomic():
            provenance_record(
                message=answer,
                question=question,
                passages=shown.passages,
                citations=shown.citations,
                retrieval=shown.retrieval,
            )
    except Exception:
        logger.exception("answer %s: its provenance could not be recorded", answer.pk)


def _answer_stop_requested(answer: Message) -> bool:
    return Message.objects.filter(pk=answer.pk, stop_requested=True).exists()


def _answer_stopped(
    answer: Message,
    parts: list[str],
    citations: list[dict[str, Any]],
    started: float,
    shown: _Shown,
    question: Message,
) -> AskStopped:
    """Store what was written as stopped (someone pressed Stop)."""
    answer.status = MessageStatus.STOPPED
    answer.content = "".join(parts)
    answer.citations = citations
    answer.stop_requested = True
    _answer_save(answer, started)
    _answer_shown(answer, shown, question.content)
    logger.info("conversation %s: answer %s stopped", answer.conversation_id, answer.pk)
    return AskStopped(message=answer)


def _answer_write_progress(
    answer: Message, parts: list[str], citations: list[dict[str, Any]]
) -> bool:
    """Store the answer so far for readers in other processes; False once Stop was pressed."""
    return bool(
        Message.objects.filter(pk=answer.pk, stop_requested=False).update(
            content="".join(parts), citations=citations, heartbeat_at=timezone.now()
        )
    )


def message_ask_collect(*, conversation: Conversation, question: str) -> Message:
    """Ask and wait for the whole answer; returns the stored answer (check its status)."""
    result: Message | None = None
    for event in message_ask(conversation=conversation, question=question):
        if isinstance(event, AskCompleted | AskFailed):
            result = event.message
    assert result is not None
    return result


def _answer_complete(
    answer: Message,
    done: AnswerDone,
    started: float,
    conversation: Conversation,
    question: str,
    shown: _Shown,
) -> None:
    answer.status = MessageStatus.COMPLETE
    answer.content = done.answer
    answer.citations = [citation.as_dict() for citation in done.citations]
    answer.notice = done.notice[:300]
    answer.grounded = done.grounded
    answer.model = done.usage.model[:100]
    answer.prompt_tokens = done.usage.prompt_tokens
    answer.completion_tokens = done.usage.completion_tokens
    with transaction.atomic():
        _answer_save(answer, started)
        provenance_record(
            message=answer,
            question=question,
            passages=done.passages or shown.passages,
            citations=done.citations,
            retrieval=done.retrieval or shown.retrieval,
        )
        fields = ["updated_at"]
        if done.provider_state:
            conversation.provider_state = {
                **conversation.provider_state,
                conversation.strategy: done.provider_state,
            }
            fields.append("provider_state")
        if not conversation.title:
            conversation.title = _title_from(question)
            fields.append("title")
        conversation.save(update_fields=fields)
        if done.corpus_state:
            corpus = Corpus.objects.select_for_update().get(pk=conversation.corpus_id)
            corpus.strategy_state = {
                **corpus.strategy_state,
                conversation.strategy: done.corpus_state,
            }
            corpus.save(update_fields=["strategy_state", "updated_at"])


def _answer_save(answer: Message, started: float) -> None:
    answer.latency_ms = _ms_since(started)
    answer.save()


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _title_from(question: str) -> str:
    title = " ".join(question.split())
    return title if len(title) <= 80 else title[:79].rsplit(" ", 1)[0] + "…"


# --- the web UI -----------------------------------------------------------------------------------

FEEDBACK_MAX_COMMENT_CHARS = 2000


def conversation_ask(
    *,
    corpus: Corpus,
    user: User | None,
    question: str,
    conversation: Conversation | None = None,
) -> Iterator[AskEvent]:
    """Ask in `conversation`, or start a new one with this first question (it is not kept if
    the question is refused)."""
    started = conversation is None
    if conversation is None:
        conversation = conversation_start(corpus=corpus, user=user)
    try:
        yield from message_ask(conversation=conversation, question=question)
    except ValidationError:
        if started:
            conversation_delete(conversation=conversation)
        raise


def message_feedback(*, message: Message, user: User, rating: str, comment: str = "") -> Feedback:
    """Store a user's thumbs up or down on an answer, replacing what they said before."""
    if rating not in FeedbackRating.values:
        raise ValidationError({"rating": "Choose thumbs up or thumbs down."})
    if message.role != MessageRole.ASSISTANT:
        raise ValidationError({"message": "Only answers can be rated."})
    comment = comment.strip()
    if len(comment) > FEEDBACK_MAX_COMMENT_CHARS:
        raise ValidationError(
            {"comment": f"Comments are limited to {FEEDBACK_MAX_COMMENT_CHARS} characters."}
        )
    feedback, _ = Feedback.objects.update_or_create(
        message=message,
        user=user,
        defaults={"rating": rating, "comment": comment, "created_at": timezone.now()},
    )
    logger.info("feedback %s on message %s: %s", feedback.pk, message.pk, rating)
    return feedback


def conversation_messages(*, conversation: Conversation, user: User) -> list[Message]:
    """The turns of a conversation, oldest first, each answer with `my_feedback` (a list of at
    most one Feedback of `user`) and its provenance record, if any, read in the same query
    (the page links each answer to "Why these sources")."""
    mine = Prefetch("feedback", queryset=Feedback.objects.filter(user=user), to_attr="my_feedback")
    return list(
        conversation.messages.order_by("id").select_related("provenance").prefetch_related(mine)
    )

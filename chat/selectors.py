"""Reads of the chat app that more than one interface needs: which messages a conversation
shows (regenerated answers and edited questions replace earlier versions), and whether an
answer is still being written somewhere."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from chat.models import Conversation, Message, MessageRole, MessageStatus

# An answer still "streaming" whose heartbeat is older than this was cut off (its web process
# stopped); it reads as interrupted. Longer than any provider call may stay silent.
LIVE_ANSWER_STALE = timedelta(minutes=2)


def answer_is_live(message: Message) -> bool:
    """True while some web process is writing this answer."""
    return (
        message.role == MessageRole.ASSISTANT
        and message.status == MessageStatus.STREAMING
        and message.heartbeat_at is not None
        and timezone.now() - message.heartbeat_at < LIVE_ANSWER_STALE
    )


@dataclass
class Shown:
    """A message as a conversation shows it, with the versions it replaced (oldest first);
    for an edited question each earlier version comes with the answer it had."""

    message: Message
    earlier: list[Message] = field(default_factory=list)
    earlier_answers: dict[int, Message] = field(default_factory=dict)


def messages_shown(messages: Iterable[Message]) -> list[Shown]:
    """The current line of a conversation from its messages in id order: replaced versions
    and the answers of replaced questions leave it, and are attached to what replaced them."""
    ordered = sorted(messages, key=lambda message: message.pk)
    by_id = {message.pk: message for message in ordered}
    replaced = {message.replaces_id for message in ordered if message.replaces_id}
    hidden_questions: set[int] = set()
    latest_answer: dict[int, Message] = {}
    shown: list[Shown] = []
    last_question: int | None = None
    for message in ordered:
        if message.role == MessageRole.USER:
            last_question = message.pk
            if message.pk in replaced:
                hidden_questions.add(message.pk)
                continue
        else:
            question = message.reply_to_id or last_question
            if question is not None and message.pk not in replaced:
                latest_answer[question] = message
            if message.pk in replaced or question in hidden_questions:
                continue
        shown.append(Shown(message=message, earlier=_versions(message, by_id)))
    for item in shown:
        if item.message.role == MessageRole.USER:
            item.earlier_answers = {
                old.pk: latest_answer[old.pk] for old in item.earlier if old.pk in latest_answer
            }
    return shown


def conversation_shown(conversation: Conversation) -> list[Message]:
    return [item.message for item in messages_shown(conversation.messages.all())]


def _versions(message: Message, by_id: dict[int, Message]) -> list[Message]:
    versions: list[Message] = []
    current = message
    while current.replaces_id and current.replaces_id in by_id and len(versions) < 50:
        current = by_id[current.replaces_id]
        versions.append(current)
    return list(reversed(versions))

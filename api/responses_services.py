"""Writes behind /v1/responses and /v1/conversations: which Docent conversation a response
continues, the ApiResponse row that records it, and conversation items.

A response is a question and answer in a Docent conversation of the token's user, so that it
shows in the web UI like any other; `previous_response_id` continues that conversation (or, if
the chain branches, a copy of its turns up to that response), `conversation` names one.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from api.errors import ApiError
from api.models import ApiConversation, ApiInterface, ApiResponse, ApiToken, ConversationExtras
from api.openai_compat import responses_wire as wire
from api.openai_compat.items import MessageItem
from api.scopes import Permission
from api.services import api_ask
from chat.models import Conversation, Message, MessageRole, MessageStatus
from chat.services import (
    AskCompleted,
    AskEvent,
    AskFailed,
    AskStarted,
    conversation_add_turns,
    conversation_start,
    corpus_strategy,
    strategy_validate,
)
from chat.strategies.base import Turn

if TYPE_CHECKING:
    from documents.models import Corpus

logger = logging.getLogger(__name__)

METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_CHARS = 64
METADATA_MAX_VALUE_CHARS = 512


@dataclass(frozen=True)
class ResponsePlan:
    """Where a new response is asked: in `conversation`, or in a new conversation that starts
    with `history`."""

    conversation: Conversation | None
    history: tuple[Turn, ...] = ()
    previous: ApiResponse | None = None
    in_conversation: bool = False


@dataclass(frozen=True)
class ResponseStarted:
    started: AskStarted
    response: ApiResponse


ResponseEvent = ResponseStarted | AskEvent


# --- metadata and items --------------------------------------------------------------------------


def metadata_clean(metadata: Any, *, param: str = "metadata") -> dict[str, str]:
    """OpenAI's rule: at most 16 string pairs, keys up to 64 and values up to 512 characters."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ApiError(400, "invalid_type", f"Invalid type for '{param}': expected an object.",
                       field=param)  # fmt: skip
    if len(metadata) > METADATA_MAX_KEYS:
        raise ApiError(
            400,
            "object_above_max_properties",
            f"Invalid '{param}': at most {METADATA_MAX_KEYS} keys are allowed.",
            field=param,
        )
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY_CHARS:
            raise ApiError(
                400,
                "invalid_value",
                f"Invalid '{param}': keys are limited to {METADATA_MAX_KEY_CHARS} characters.",
                field=param,
            )
        if not isinstance(value, str) or len(value) > METADATA_MAX_VALUE_CHARS:
            raise ApiError(
                400,
                "invalid_value",
                f"Invalid '{param}.{key}': values are strings of at most "
                f"{METADATA_MAX_VALUE_CHARS} characters.",
                field=f"{param}.{key}",
            )
    return dict(metadata)


def extras_for(conversation: Conversation) -> ConversationExtras:
    extras, _ = ConversationExtras.objects.get_or_create(conversation=conversation)
    return extras


def conversation_items_add(
    *, conversation: Conversation, items: Sequence[MessageItem]
) -> list[Message | dict[str, Any]]:
    """Store message items in order: questions and answers as messages, system and developer
    items on the conversation's extras. Returns, per item, its Message or its stored item."""
    stored: list[Message | dict[str, Any]] = []
    with transaction.atomic():
        instructions: list[dict[str, Any]] = []
        for item in items:
            if item.is_instruction:
                instructions.append(item.wire)
                stored.append(item.wire)
                continue
            assistant = item.role == "assistant"
            stored.append(
                Message.objects.create(
                    conversation=conversation,
                    role=MessageRole.ASSISTANT if assistant else MessageRole.USER,
                    content=item.text,
                    status=MessageStatus.COMPLETE,
                    notice="Supplied by the client, not answered here." if assistant else "",
                )
            )
        if instructions:
            extras = ConversationExtras.objects.select_for_update().get_or_create(
                conversation=conversation
            )[0]
            extras.instruction_items = [*extras.instruction_items, *instructions]
            extras.save(update_fields=["instruction_items"])
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    return stored


def api_conversation_create(
    *,
    token: ApiToken,
    corpus: Corpus,
    metadata: dict[str, str],
    items: Sequence[MessageItem] = (),
) -> Conversation:
    """A conversation of the token's user, credited to the token. Its corpus is provisional
    until something is answered in it (POST /v1/conversations names no model)."""
    with transaction.atomic():
        conversation = conversation_start(corpus=corpus, user=token.user)
        ApiConversation.objects.create(
            conversation=conversation, token=token, interface=ApiInterface.OPENAI
        )
        ConversationExtras.objects.create(conversation=conversation, metadata=metadata)
        if items:
            conversation_items_add(conversation=conversation, items=items)
    logger.info("conversation %s created through /v1 by token %s", conversation.pk, token.pk)
    return conversation


def conversation_metadata_set(*, conversation: Conversation, metadata: dict[str, str]) -> None:
    extras = extras_for(conversation)
    extras.metadata = metadata
    extras.save(update_fields=["metadata"])


def conversation_item_delete(*, conversation: Conversation, item_id: str) -> bool:
    """Delete one item (a message, or a system item); False if the conversation has no such
    item."""
    extras = ConversationExtras.objects.filter(conversation=conversation).first()
    if extras is not None:
        kept = [item for item in extras.instruction_items if item.get("id") != item_id]
        if len(kept) != len(extras.instruction_items):
            extras.instruction_items = kept
            extras.save(update_fields=["instruction_items"])
            return True
    message = conversation_message(conversation=conversation, item_id=item_id)
    if message is None:
        return False
    message.delete()
    logger.info("conversation %s: message %s deleted through /v1", conversation.pk, message.pk)
    return True


def conversation_message(*, conversation: Conversation, item_id: str) -> Message | None:
    """The message an item id names: msg_docent<pk>, or the output item id a response gave
    the answer while streaming it."""
    pk = wire.message_pk(item_id)
    if pk is None:
        response = (
            ApiResponse.objects.filter(conversation=conversation, output__0__id=item_id)
            .exclude(answer=None)
            .first()
        )
        pk = response.answer_id if response else None
    return conversation.messages.filter(pk=pk).first() if pk else None


def _conversation_move(*, conversation: Conversation, corpus: Corpus) -> None:
    """Point a conversation nothing has been answered in yet at the corpus a response names."""
    if conversation.corpus_id == corpus.pk:
        return
    if conversation.messages.exclude(strategy="").exists():
        raise ApiError(
            400,
            "invalid_value",
            f"Conversation {wire.conversation_id(conversation)} is about the corpus "
            f"“{conversation.corpus.slug}”; ask it with model “{conversation.corpus.slug}”.",
            field="model",
        )
    strategy = corpus_strategy(corpus)
    strategy_validate(corpus=corpus, strategy=strategy)
    conversation.corpus = corpus
    conversation.strategy = strategy
    conversation.save(update_fields=["corpus", "strategy", "updated_at"])
    logger.info("conversation %s moved to corpus %s", conversation.pk, corpus.pk)


# --- responses ------------------------------------------------------------------------------------


def response_for(*, token: ApiToken, public_id: str, param: str | None = None) -> ApiResponse:
    response = (
        ApiResponse.objects.for_token(token)
        .select_related("previous", "conversation")
        .filter(public_id=public_id)
        .first()
    )
    if response is None:
        if param == "previous_response_id":
            raise ApiError(
                400,
                "previous_response_not_found",
                f"Previous response with id '{public_id}' not found.",
                field=param,
            )
        raise ApiError(404, "not_found", f"Response with id '{public_id}' not found.")
    return response


def response_plan(
    *,
    token: ApiToken,
    corpus: Corpus,
    previous: ApiResponse | None = None,
    conversation: Conversation | None = None,
) -> ResponsePlan:
    if conversation is not None:
        _conversation_move(conversation=conversation, corpus=corpus)
        return ResponsePlan(conversation=conversation, in_conversation=True)
    if previous is None:
        return ResponsePlan(conversation=None)
    if previous.in_conversation:
        # OpenAI carries the conversation on: a response in a conversation continues in it.
        return response_plan(token=token, corpus=corpus, conversation=previous.conversation)
    last = previous.conversation.messages.order_by("-id").values_list("id", flat=True).first()
    if (
        previous.answer_id is not None
        and last == previous.answer_id
        and (previous.conversation.corpus_id == corpus.pk)
    ):
        return ResponsePlan(conversation=previous.conversation, previous=previous)
    # The chain branches (or moves to another corpus): a new conversation with its turns.
    return ResponsePlan(conversation=None, history=_turns_until(previous), previous=previous)


def _turns_until(response: ApiResponse) -> tuple[Turn, ...]:
    turns: list[Turn] = []
    question: str | None = None
    last = response.answer_id or response.question_id or 0
    for message in response.conversation.messages.filter(pk__lte=last).order_by("id"):
        if message.role == MessageRole.USER:
            question = message.content
        elif question is not None and message.status == MessageStatus.COMPLETE:
            turns.append(Turn(question=question, answer=message.content))
            question = None
    return tuple(turns)


def response_ask(
    *,
    token: ApiToken,
    corpus: Corpus,
    question: str,
    plan: ResponsePlan,
    sent_turns: Sequence[Turn],
    instruction_items: Sequence[MessageItem],
    input_items: list[dict[str, Any]],
    envelope: dict[str, Any],
    site: str,
) -> Iterator[ResponseEvent]:
    """Ask as the token's user where `plan` says, recording an ApiResponse: created when the
    question is stored, finished with the answer's output and usage (or failed, or cancelled
    when the client goes away)."""
    conversation = plan.conversation
    if conversation is not None:
        if sent_turns:
            conversation_add_turns(conversation=conversation, turns=sent_turns)
        if instruction_items and plan.in_conversation:
            conversation_items_add(conversation=conversation, items=instruction_items)
        events = api_ask(
            token=token,
            corpus=corpus,
            question=question,
            interface=ApiInterface.OPENAI,
            conversation=conversation,
        )
    else:
        events = api_ask(
            token=token,
            corpus=corpus,
            question=question,
            interface=ApiInterface.OPENAI,
            history=[*plan.history, *sent_turns],
        )
    response: ApiResponse | None = None
    finished = False
    try:
        for event in events:
            if isinstance(event, AskStarted):
                # The stream names the answer item before the answer is stored: its row's id
                # when the answer row exists from the start, else an id kept on the response.
                answer = getattr(event, "answer", None)
                item_id = (
                    wire.message_id(answer)
                    if answer is not None and answer.pk
                    else f"msg_{secrets.token_hex(24)}"
                )
                response = ApiResponse.objects.create(
                    public_id=f"resp_{secrets.token_hex(24)}",
                    user=token.user,
                    token=token,
                    conversation=event.conversation,
                    question=event.question,
                    previous=plan.previous,
                    in_conversation=plan.in_conversation,
                    stored=envelope.get("store", True),
                    envelope=envelope,
                    input_items=input_items,
                    output=[{"id": item_id}],
                )
                logger.info(
                    "response %s started in conversation %s", response.pk, event.conversation.pk
                )
                yield ResponseStarted(started=event, response=response)
                continue
            if isinstance(event, AskCompleted | AskFailed) and response is not None:
                _response_finish(response, event, site=site, corpus=corpus)
                finished = True
            yield event
            if finished:
                return
        # The answer ended without AskCompleted/AskFailed (someone pressed Stop in the web UI).
        if response is not None:
            _response_cancel(response)
            finished = True
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
        if response is not None and not finished:
            _response_cancel(response)


def _response_finish(
    response: ApiResponse, event: AskCompleted | AskFailed, *, site: str, corpus: Corpus
) -> None:
    message = event.message
    item = wire.message_item(message, site=site, corpus_slug=corpus.slug)
    item_id = response.output[0]["id"] if response.output else item["id"]
    item["id"] = item_id
    response.answer = message
    response.completed_at = timezone.now()
    if isinstance(event, AskCompleted):
        response.status = "completed"
        response.output = [item]
        response.usage = wire.usage_object(message)
    else:
        response.status = "failed"
        response.output = []
        response.error = {
            "code": "rate_limit_exceeded" if event.code == "rate_limited" else "server_error",
            "message": message.error,
        }
    response.save(update_fields=["answer", "completed_at", "status", "output", "usage", "error"])
    logger.info("response %s %s", response.pk, response.status)


def _response_cancel(response: ApiResponse) -> None:
    answer = (
        response.conversation.messages.filter(
            pk__gt=response.question_id or 0, role=MessageRole.ASSISTANT
        )
        .order_by("id")
        .first()
    )
    ApiResponse.objects.filter(pk=response.pk, status="in_progress").update(
        status="cancelled", answer=answer
    )
    logger.info("response %s cancelled", response.pk)


def response_delete(*, response: ApiResponse) -> None:
    """Forget the response (GET answers 404 after this); its turn stays in the conversation,
    as a deleted OpenAI response leaves its conversation's items."""
    response.delete()
    logger.info("response %s deleted", response.pk)


def token_queryable_corpus(token: ApiToken) -> Corpus:
    corpus = token.corpora(Permission.QUERY).order_by("slug").first()
    if corpus is None:
        raise ApiError(
            403,
            "forbidden",
            "This token may query no corpus, so it cannot hold a conversation. "
            "Create a token with the query permission under /api/tokens/.",
        )
    return corpus

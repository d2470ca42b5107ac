"""The token user's own conversations, in the corpora the token may query."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Query, Router, Schema, Status

from api.access import conversation_for
from api.auth import request_token
from api.errors import INTERNAL_MESSAGE, not_found
from api.rest.schemas import (
    SLUG_PATTERN,
    ConversationDetailOut,
    ConversationPage,
    ErrorOut,
    Id,
)
from api.scopes import Permission
from chat import services
from chat.models import Conversation, Message
from chat.streaming import follow_answer_events, sse

logger = logging.getLogger(__name__)

router = Router(tags=["conversations"])

ERRORS = frozenset({400, 401, 403, 404, 422, 429})


class ConversationFilter(Schema):
    corpus: str | None = Field(None, pattern=SLUG_PATTERN, description="Only this corpus.")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000_000)


@router.get("/conversations", response={200: ConversationPage, ERRORS: ErrorOut}, summary="List")
def conversation_list(request: HttpRequest, filters: Query[ConversationFilter]) -> dict[str, Any]:
    """Your conversations (the token's user's, wherever they were started) in the corpora
    this token may query, most recently active first."""
    token = request_token(request)
    conversations = (
        Conversation.objects.for_user(token.user)
        .filter(corpus__in=token.corpora(Permission.QUERY))
        .select_related("corpus")
    )
    if filters.corpus:
        conversations = conversations.filter(corpus__slug=filters.corpus)
    page = conversations[filters.offset : filters.offset + filters.limit]
    return {
        "count": conversations.count(),
        "limit": filters.limit,
        "offset": filters.offset,
        "items": [conversation_out(conversation) for conversation in page],
    }


@router.get(
    "/conversations/{conversation_id}",
    response={200: ConversationDetailOut, ERRORS: ErrorOut},
    summary="Get with messages",
)
def conversation_detail(request: HttpRequest, conversation_id: Id) -> dict[str, Any]:
    conversation = conversation_for(request_token(request), conversation_id)
    messages = conversation.messages.order_by("id")
    return {
        **conversation_out(conversation),
        "messages": [message_out(message) for message in messages],
    }


@router.get(
    "/conversations/{conversation_id}/messages/{message_id}/stream",
    response={200: None, ERRORS: ErrorOut},
    summary="Follow an answer",
    openapi_extra={
        "responses": {
            200: {
                "description": "Server-Sent Events of an answer still being written (after a "
                "dropped connection, from any server process): `delta` with the text after "
                "`offset` characters, each `citation`, then `done`, `error` or `stopped`, as "
                "the ask stream sends them. An answer that has ended is sent at once.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        }
    },
)
async def message_stream(
    request: HttpRequest,
    conversation_id: Id,
    message_id: Id,
    offset: int = 0,
) -> StreamingHttpResponse:
    """An ask stream goes on being written when its client goes away; this picks it up again
    (send the number of characters of text already received as `offset`)."""
    token = request_token(request)
    conversation = await sync_to_async(conversation_for)(token, conversation_id)
    message = await Message.objects.filter(
        conversation=conversation, pk=message_id, role="assistant"
    ).afirst()
    if message is None:
        raise not_found(f"Conversation {conversation_id} has no answer {message_id}.")

    async def events() -> AsyncIterator[str]:
        # The status line went out before the first read: a failure here (the database gone
        # mid-poll) must end the stream with an event, as the ask stream does, not cut the
        # chunked body off (clients see "Response ended prematurely").
        try:
            async for name, data in follow_answer_events(message.pk, offset=max(0, offset)):
                yield sse(name, data)
        except Exception:
            logger.exception("message %s: following the answer failed", message.pk)
            yield sse("error", {"message": INTERNAL_MESSAGE, "retryable": True, "code": "internal"})

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@router.delete(
    "/conversations/{conversation_id}", response={204: None, ERRORS: ErrorOut}, summary="Delete"
)
def conversation_delete(request: HttpRequest, conversation_id: Id) -> Status[None]:
    conversation = conversation_for(request_token(request), conversation_id)
    services.conversation_delete(conversation=conversation)
    return Status(204, None)


def conversation_out(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "corpus": conversation.corpus.slug,
        "title": str(conversation),
        "strategy": conversation.strategy,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
    }


def message_out(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "role": message.role,
        "content": message.content,
        "citations": message.citations,
        "status": message.status,
        "error": message.error,
        "notice": message.notice,
        "grounded": message.grounded,
        "strategy": message.strategy,
        "usage": message.usage,
        "created_at": message.created_at,
    }

"""/v1/conversations and their items, mapped onto Docent conversations.

`conv_docent12` is the token user's conversation 12: one started here shows in the web UI
(under the corpus it was first asked about), and one started in the web UI can be read and
continued here by that id. Items are its questions and answers (answers with their citations
as annotations) after any system or developer items the client added, which are kept and
listed but not obeyed. POST /v1/conversations names no model, so a new conversation belongs to
the first corpus the token may query until a response names another.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema

from api import responses_services as services
from api.access import conversation_for
from api.auth import request_token
from api.errors import ApiError
from api.models import ApiResponse, ApiToken, ConversationExtras
from api.openai_compat import responses_wire as wire
from api.openai_compat.items import MAX_ITEMS_PER_REQUEST, items_from
from api.openai_compat.params import history_size_check
from chat.models import Conversation, Message
from chat.services import conversation_delete

router = Router()


class ConversationIn(Schema):
    items: list[Any] | None = None
    metadata: dict[str, Any] | None = None


class ConversationUpdateIn(Schema):
    metadata: dict[str, Any]


class ItemsIn(Schema):
    items: list[Any]


def conversation_by_id(
    token: ApiToken, public_id: str, *, param: str | None = None
) -> Conversation:
    pk = wire.conversation_pk(public_id)
    try:
        if pk is None:
            raise ApiError(404, "not_found", "")
        return conversation_for(token, pk)
    except ApiError as error:
        if error.status != 404:
            raise
        raise ApiError(
            404, "not_found", f"Conversation with id '{public_id}' not found.", field=param
        ) from None


def _items_checked(raw: list[Any] | None, *, param: str) -> Any:
    # The same bound as on a response's input: a client's items are history too.
    history_size_check(raw, param=param)
    if raw is not None and len(raw) > MAX_ITEMS_PER_REQUEST:
        raise ApiError(
            400,
            "array_above_max_length",
            f"Invalid '{param}': array too long. Expected an array with maximum length "
            f"{MAX_ITEMS_PER_REQUEST}, but got an array with length {len(raw)} instead.",
            field=param,
        )
    return items_from(raw, param=param)


def _metadata(conversation: Conversation) -> dict[str, Any]:
    extras = ConversationExtras.objects.filter(conversation=conversation).first()
    return dict(extras.metadata) if extras else {}


def _site(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def conversation_items(conversation: Conversation, *, site: str) -> list[dict[str, Any]]:
    """Every item, oldest first: system/developer items, then questions and answers."""
    extras = ConversationExtras.objects.filter(conversation=conversation).first()
    items = list(extras.instruction_items) if extras else []
    # An answer a response streamed keeps the item id the stream gave it.
    streamed = {
        answer_id: output[0]["id"]
        for answer_id, output in ApiResponse.objects.filter(
            conversation=conversation, answer__isnull=False
        ).values_list("answer_id", "output")
        if output
    }
    for message in _shown(conversation):
        item = wire.message_item(message, site=site, corpus_slug=conversation.corpus.slug)
        item["id"] = streamed.get(message.pk, item["id"])
        items.append(item)
    return items


def _shown(conversation: Conversation) -> list[Message]:
    try:  # the current line of a conversation whose questions were edited, where kept
        from chat.selectors import conversation_shown
    except ImportError:
        return list(conversation.messages.order_by("id"))
    return list(conversation_shown(conversation))


@router.post("/conversations")
def conversation_create(request: HttpRequest, payload: ConversationIn) -> dict[str, Any]:
    token = request_token(request)
    metadata = services.metadata_clean(payload.metadata)
    items = _items_checked(payload.items, param="items")
    conversation = services.api_conversation_create(
        token=token,
        corpus=services.token_queryable_corpus(token),
        metadata=metadata,
        items=items,
    )
    return wire.conversation_object(conversation, metadata)


@router.get("/conversations/{conversation_id}")
def conversation_retrieve(request: HttpRequest, conversation_id: str) -> dict[str, Any]:
    conversation = conversation_by_id(request_token(request), conversation_id)
    return wire.conversation_object(conversation, _metadata(conversation))


@router.post("/conversations/{conversation_id}")
def conversation_update(
    request: HttpRequest, conversation_id: str, payload: ConversationUpdateIn
) -> dict[str, Any]:
    conversation = conversation_by_id(request_token(request), conversation_id)
    metadata = services.metadata_clean(payload.metadata)
    services.conversation_metadata_set(conversation=conversation, metadata=metadata)
    return wire.conversation_object(conversation, metadata)


@router.delete("/conversations/{conversation_id}")
def conversation_remove(request: HttpRequest, conversation_id: str) -> dict[str, Any]:
    conversation = conversation_by_id(request_token(request), conversation_id)
    conversation_delete(conversation=conversation)
    return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}


@router.post("/conversations/{conversation_id}/items")
def conversation_items_create(
    request: HttpRequest, conversation_id: str, payload: ItemsIn
) -> dict[str, Any]:
    conversation = conversation_by_id(request_token(request), conversation_id)
    items = _items_checked(payload.items, param="items")
    stored = services.conversation_items_add(conversation=conversation, items=items)
    site = _site(request)
    data = [
        wire.message_item(row, site=site, corpus_slug=conversation.corpus.slug)
        if isinstance(row, Message)
        else row
        for row in stored
    ]
    return wire.list_page(data, limit=len(data) or 1, order="asc", after=None)


@router.get("/conversations/{conversation_id}/items")
def conversation_items_list(
    request: HttpRequest,
    conversation_id: str,
    page: Query[wire.PageQuery],
) -> dict[str, Any]:
    conversation = conversation_by_id(request_token(request), conversation_id)
    items = conversation_items(conversation, site=_site(request))
    return wire.list_page(items, limit=page.limit, order=page.order, after=page.after)


def _item(conversation: Conversation, item_id: str, site: str) -> dict[str, Any]:
    for item in conversation_items(conversation, site=site):
        if item["id"] == item_id:
            return item
    raise ApiError(404, "not_found", f"Item with id '{item_id}' not found.")


@router.get("/conversations/{conversation_id}/items/{item_id}")
def conversation_item_retrieve(
    request: HttpRequest, conversation_id: str, item_id: str
) -> dict[str, Any]:
    conversation = conversation_by_id(request_token(request), conversation_id)
    return _item(conversation, item_id, _site(request))


@router.delete("/conversations/{conversation_id}/items/{item_id}")
def conversation_item_delete(
    request: HttpRequest, conversation_id: str, item_id: str
) -> dict[str, Any]:
    conversation = conversation_by_id(request_token(request), conversation_id)
    if not services.conversation_item_delete(conversation=conversation, item_id=item_id):
        raise ApiError(404, "not_found", f"Item with id '{item_id}' not found.")
    # Deleting an item answers with the conversation itself, as OpenAI's does.
    return wire.conversation_object(conversation, _metadata(conversation))

"""/v1/conversations and their items (also the item shapes the Responses API stores)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .state import Conversation
from .wire import (
    JsonReply,
    Request,
    bad_request,
    deleted,
    list_page,
    not_found,
    optional,
    paginate,
    require,
)

if TYPE_CHECKING:
    from .server import FakeOpenAIServer, Route

ROLES = ("user", "assistant", "system", "developer")
MAX_ITEMS_PER_REQUEST = 20


def normalize_items(app: FakeOpenAIServer, raw: Any, *, id_kind: str, param: str) -> list[Any]:
    """Input items as the API stores them: ids, `status`, and content parts for plain strings."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise bad_request(
            f"Invalid type for '{param}': expected a string or an array.", param=param
        )
    items = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise bad_request(f"Invalid '{param}[{index}]': expected an object.", param=param)
        kind = item.get("type", "message")
        if kind != "message":
            stored = copy.deepcopy(item)
            stored.setdefault("id", app.state.ids.new(id_kind))
            items.append(stored)
            continue
        role = item.get("role")
        if role not in ROLES:
            raise bad_request(
                f"Invalid value: '{role}'. Supported values are: {', '.join(ROLES)}.",
                param=f"{param}[{index}].role",
            )
        content = item.get("content")
        if isinstance(content, str):
            if role == "assistant":
                parts = [
                    {"type": "output_text", "annotations": [], "logprobs": [], "text": content}
                ]
            else:
                parts = [{"type": "input_text", "text": content}]
        elif isinstance(content, list):
            parts = copy.deepcopy(content)
        else:
            raise bad_request(
                f"Missing required parameter: '{param}[{index}].content'.",
                param=f"{param}[{index}].content",
                code="missing_required_parameter",
            )
        items.append(
            {
                "id": item.get("id") or app.state.ids.new(id_kind),
                "type": "message",
                "status": "completed",
                "content": parts,
                "role": role,
            }
        )
    return items


def get_conversation(app: FakeOpenAIServer, conversation_id: str) -> Conversation:
    conversation = app.state.conversations.get(conversation_id)
    if conversation is None:
        raise not_found(f"Conversation with id '{conversation_id}' not found.")
    return conversation


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    metadata = optional(body, "metadata", dict, {})
    if len(metadata) > 16:
        raise bad_request("Invalid 'metadata': at most 16 keys are allowed.", param="metadata")
    return dict(metadata)


def _item_list(body: dict[str, Any], name: str, *, required: bool) -> Any:
    raw = require(body, name, list) if required else optional(body, name, list, [])
    if len(raw) > MAX_ITEMS_PER_REQUEST:
        raise bad_request(
            f"Invalid '{name}': array too long. Expected an array with maximum length"
            f" {MAX_ITEMS_PER_REQUEST}, but got an array with length {len(raw)} instead.",
            param=name,
            code="array_above_max_length",
        )
    return raw


def create(app: FakeOpenAIServer, request: Request) -> JsonReply:
    body = request.body()
    raw_items = _item_list(body, "items", required=False)
    conversation = Conversation(
        id=app.state.ids.new("conversation"),
        created_at=app.now(),
        metadata=_metadata(body),
    )
    conversation.items = normalize_items(app, raw_items, id_kind="conversation_item", param="items")
    app.state.conversations[conversation.id] = conversation
    return JsonReply(conversation.to_wire())


def retrieve(app: FakeOpenAIServer, request: Request, conversation_id: str) -> JsonReply:
    return JsonReply(get_conversation(app, conversation_id).to_wire())


def update(app: FakeOpenAIServer, request: Request, conversation_id: str) -> JsonReply:
    conversation = get_conversation(app, conversation_id)
    body = request.body()
    require(body, "metadata", dict)
    conversation.metadata = _metadata(body)
    return JsonReply(conversation.to_wire())


def delete(app: FakeOpenAIServer, request: Request, conversation_id: str) -> JsonReply:
    get_conversation(app, conversation_id)
    del app.state.conversations[conversation_id]
    return JsonReply(deleted(conversation_id, "conversation.deleted"))


def create_items(app: FakeOpenAIServer, request: Request, conversation_id: str) -> JsonReply:
    conversation = get_conversation(app, conversation_id)
    raw_items = _item_list(request.body(), "items", required=True)
    items = normalize_items(app, raw_items, id_kind="conversation_item", param="items")
    conversation.items.extend(items)
    return JsonReply(list_page(copy.deepcopy(items)))


def list_items(app: FakeOpenAIServer, request: Request, conversation_id: str) -> JsonReply:
    conversation = get_conversation(app, conversation_id)
    return JsonReply(paginate(copy.deepcopy(conversation.items), request))


def _find_item(conversation: Conversation, item_id: str) -> dict[str, Any]:
    for item in conversation.items:
        if item.get("id") == item_id:
            return item
    raise not_found(f"Item with id '{item_id}' not found.")


def retrieve_item(
    app: FakeOpenAIServer, request: Request, conversation_id: str, item_id: str
) -> JsonReply:
    conversation = get_conversation(app, conversation_id)
    return JsonReply(copy.deepcopy(_find_item(conversation, item_id)))


def delete_item(
    app: FakeOpenAIServer, request: Request, conversation_id: str, item_id: str
) -> JsonReply:
    conversation = get_conversation(app, conversation_id)
    conversation.items.remove(_find_item(conversation, item_id))
    # Deleting an item answers with the conversation itself.
    return JsonReply(conversation.to_wire())


CONVERSATION = "/conversations/{conversation_id}"
ROUTES: list[Route] = [
    ("POST", "/conversations", create),
    ("GET", CONVERSATION, retrieve),
    ("POST", CONVERSATION, update),
    ("DELETE", CONVERSATION, delete),
    ("POST", CONVERSATION + "/items", create_items),
    ("GET", CONVERSATION + "/items", list_items),
    ("GET", CONVERSATION + "/items/{item_id}", retrieve_item),
    ("DELETE", CONVERSATION + "/items/{item_id}", delete_item),
]

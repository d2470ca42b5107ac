"""Input items of /v1/responses and /v1/conversations: messages as a string or as items, their
content as a string or as text parts, normalized the way OpenAI stores them (ids, `status`,
`input_text`/`output_text` parts)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from api.errors import ApiError

ROLES = ("user", "assistant", "system", "developer")
INSTRUCTION_ROLES = ("system", "developer")
TEXT_PARTS = ("input_text", "output_text", "text")
MAX_ITEMS_PER_REQUEST = 20  # POST /v1/conversations and its /items, as OpenAI limits them


@dataclass(frozen=True)
class MessageItem:
    role: str
    text: str
    wire: dict[str, Any]  # as stored and listed

    @property
    def is_instruction(self) -> bool:
        return self.role in INSTRUCTION_ROLES


def items_from(raw: Any, *, param: str) -> list[MessageItem]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise ApiError(
            400, "invalid_type", f"Invalid type for '{param}': expected a string or an array.",
            field=param,
        )  # fmt: skip
    return [_item(item, f"{param}[{index}]") for index, item in enumerate(raw)]


def _item(item: Any, where: str) -> MessageItem:
    if not isinstance(item, dict):
        raise ApiError(400, "invalid_type", f"Invalid '{where}': expected an object.", field=where)
    kind = item.get("type", "message")
    if kind != "message":
        raise ApiError(
            400,
            "unsupported_parameter",
            f"Input items of type {kind!r} are not supported: send the conversation as "
            "messages, or continue it with 'previous_response_id' or 'conversation'.",
            field=f"{where}.type",
        )
    role = item.get("role")
    if role not in ROLES:
        raise ApiError(
            400,
            "invalid_value",
            f"Invalid value: {role!r}. Supported values are: {', '.join(ROLES)}.",
            field=f"{where}.role",
        )
    content = item.get("content")
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
        kind = "output_text" if role == "assistant" else "input_text"
        parts: list[dict[str, Any]] = [_part(kind, content)]
    elif isinstance(content, list):
        parts = []
        for number, part in enumerate(content):
            part_type = part.get("type") if isinstance(part, dict) else None
            if part_type not in TEXT_PARTS or not isinstance(part.get("text"), str):
                raise ApiError(
                    400,
                    "unsupported_parameter",
                    f"Only text content is supported; {where} has a {part_type!r} part.",
                    field=f"{where}.content[{number}]",
                )
            texts.append(part["text"])
            kind = part_type if part_type != "text" else (
                "output_text" if role == "assistant" else "input_text"
            )  # fmt: skip
            parts.append(_part(kind, part["text"], part.get("annotations")))
    else:
        raise ApiError(
            400,
            "missing_required_parameter",
            f"Missing required parameter: '{where}.content'.",
            field=f"{where}.content",
        )
    item_id = item.get("id")
    wire = {
        "id": item_id if isinstance(item_id, str) and item_id else f"msg_{secrets.token_hex(24)}",
        "type": "message",
        "status": "completed",
        "content": parts,
        "role": role,
    }
    return MessageItem(role=role, text="\n".join(texts), wire=wire)


def _part(kind: str, text: str, annotations: Any = None) -> dict[str, Any]:
    if kind == "output_text":
        return {
            "type": "output_text",
            "annotations": annotations if isinstance(annotations, list) else [],
            "logprobs": [],
            "text": text,
        }
    return {"type": kind, "text": text}

"""Request parsing, replies, errors and SSE framing shared by every endpoint module."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

JSONDict = dict[str, Any]


class ApiError(Exception):
    """An OpenAI-style error: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: JSONDict | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> JSONDict:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return {"error": error, **self.extra}


def not_found(message: str, *, param: str | None = None) -> ApiError:
    return ApiError(404, message, param=param)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_body: bytes = b""
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name) or self.query.get(f"{name}[]")
        return values[0] if values else default

    def arg_list(self, name: str) -> list[str]:
        return [*self.query.get(name, []), *self.query.get(f"{name}[]", [])]

    def arg_int(self, name: str, default: int, *, low: int = 1, high: int = 100) -> int:
        raw = self.arg(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_request(f"Invalid '{name}': expected an integer.", param=name) from None
        if not low <= value <= high:
            raise bad_request(
                f"Invalid '{name}': integer must be between {low} and {high}, got {value}.",
                param=name,
                code="integer_out_of_range" if value > high else "integer_below_min_value",
            )
        return value

    def body(self) -> JSONDict:
        if self.json is None:
            return {}
        if not isinstance(self.json, dict):
            raise bad_request("Invalid body: expected a JSON object.")
        return self.json


@dataclass
class JsonReply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RawReply:
    content: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SSEEvent:
    data: str
    event: str | None = None

    def encode(self) -> bytes:
        head = f"event: {self.event}\n" if self.event is not None else ""
        return f"{head}data: {self.data}\n\n".encode()


@dataclass
class StreamReply:
    events: list[SSEEvent]
    headers: dict[str, str] = field(default_factory=dict)


Reply = JsonReply | RawReply | StreamReply


def compact(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def sse(event: str | None, payload: Any) -> SSEEvent:
    return SSEEvent(data=compact(payload), event=event)


DONE = "[DONE]"


# --- body validation ------------------------------------------------------------------------------

_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array"}
_TYPE_NAMES[dict] = "object"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    for python_type, name in _TYPE_NAMES.items():
        if type(value) is python_type:
            return name
    return type(value).__name__


def require(body: JSONDict, name: str, kinds: type | tuple[type, ...] = str) -> Any:
    if name not in body or body[name] is None:
        raise bad_request(
            f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
        )
    return check_type(body, name, kinds)


def optional(body: JSONDict, name: str, kinds: type | tuple[type, ...], default: Any = None) -> Any:
    if body.get(name) is None:
        return default
    return check_type(body, name, kinds)


def check_type(body: JSONDict, name: str, kinds: type | tuple[type, ...]) -> Any:
    value = body[name]
    allowed = kinds if isinstance(kinds, tuple) else (kinds,)
    # bool is an int subclass; the API does not accept true for an integer field.
    ok = any(
        isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        for kind in allowed
    )
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        expected = " or ".join(_TYPE_NAMES.get(kind, kind.__name__) for kind in allowed)
        raise bad_request(
            f"Invalid type for '{name}': expected {expected}, but got {_type_name(value)} instead.",
            param=name,
            code="invalid_type",
        )
    return value


def string_list(body: JSONDict, name: str) -> list[str]:
    value = optional(body, name, list, [])
    if not all(isinstance(item, str) for item in value):
        raise bad_request(f"Invalid '{name}': expected an array of strings.", param=name)
    return list(value)


# --- cursor pagination ----------------------------------------------------------------------------


def paginate(
    items: Sequence[JSONDict],
    request: Request,
    *,
    default_limit: int = 20,
    max_limit: int = 100,
    default_order: str = "desc",
) -> JSONDict:
    """Cursor page over `items` given oldest first, the way every OpenAI list endpoint pages."""
    limit = request.arg_int("limit", default_limit, high=max_limit)
    order = request.arg("order", default_order)
    if order not in ("asc", "desc"):
        raise bad_request(
            f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.", param="order"
        )
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [item["id"] for item in ordered]
    after, before = request.arg("after"), request.arg("before")
    if after is not None:
        ordered = ordered[ids.index(after) + 1 :] if after in ids else []
        page = ordered[:limit]
        has_more = len(ordered) > limit
    elif before is not None:
        ordered = ordered[: ids.index(before)] if before in ids else []
        page = ordered[-limit:]
        has_more = len(ordered) > limit
    else:
        page = ordered[:limit]
        has_more = len(ordered) > limit
    return list_page(page, has_more=has_more)


def list_page(data: Iterable[JSONDict], *, has_more: bool = False) -> JSONDict:
    rows = list(data)
    return {
        "object": "list",
        "data": rows,
        "first_id": rows[0]["id"] if rows else None,
        "last_id": rows[-1]["id"] if rows else None,
        "has_more": has_more,
    }


def deleted(object_id: str, kind: str) -> JSONDict:
    return {"id": object_id, "object": kind, "deleted": True}


# --- multipart ------------------------------------------------------------------------------------


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    boundary = _header_param(content_type, "boundary")
    if not boundary:
        raise bad_request("Invalid multipart body: no boundary.")
    form: dict[str, str] = {}
    uploads: dict[str, Upload] = {}
    delimiter = b"--" + boundary.encode()
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        part = part.removeprefix(b"\r\n")
        head, _, data = part.partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _header_param(disposition, "name")
        if name is None:
            continue
        filename = _header_param(disposition, "filename*") or _header_param(disposition, "filename")
        if filename is not None:
            if filename.lower().startswith("utf-8''"):
                from urllib.parse import unquote

                filename = unquote(filename[7:])
            uploads[name] = Upload(
                filename, headers.get("content-type", "application/octet-stream"), data
            )
        else:
            form[name] = data.decode("utf-8", "replace")
    return form, uploads


def _header_param(header: str, name: str) -> str | None:
    for piece in header.split(";"):
        key, sep, value = piece.strip().partition("=")
        if sep and key.strip().lower() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None

"""/v1/assistants (Assistants API v2), and what the other Assistants-era endpoints share:
request bodies parsed as OpenAI does, list pagination, tools and tool resources, vector store
ids (a vector store is a corpus: ``vs_<corpus slug>``).

Docent answers from documents only: `file_search` is the one tool; `code_interpreter` and
`function` tools are refused with a 400 that names the parameter."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from django.db.models import Model, QuerySet
from django.http import HttpRequest
from ninja import Router

from api.access import corpus_for
from api.assistants import services
from api.assistants.models import Assistant
from api.auth import request_token
from api.errors import ApiError
from api.models import ApiToken
from api.scopes import Permission
from documents.models import Corpus

router = Router()

M = TypeVar("M", bound=Model)
DEFAULT_RANKING = {"ranker": "default_2024_08_21", "score_threshold": 0.0}
_MISSING = object()


# --- request bodies ---------------------------------------------------------------------------


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, code, message, field=param)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def json_body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(
            "We could not parse the JSON body of your request. The OpenAI API expects a "
            "JSON payload.",
            code="invalid_json",
        ) from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    return body


_TYPE_NAMES = {str: "a string", dict: "an object", list: "an array", bool: "a boolean"}


def field(body: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None,
          *, param: str | None = None) -> Any:  # fmt: skip
    value = body.get(key, _MISSING)
    if value is _MISSING or value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    numeric = float in kinds and isinstance(value, int) and not isinstance(value, bool)
    if (not isinstance(value, kinds) and not numeric) or (
        isinstance(value, bool) and bool not in kinds
    ):
        names = " or ".join(_TYPE_NAMES.get(k, "a number") for k in kinds)
        name = param or key
        raise bad_request(f"Invalid type for '{name}': expected {names}.", name, "invalid_type")
    return float(value) if numeric else value


def required(body: dict[str, Any], key: str, kind: type, *, param: str | None = None) -> Any:
    value = field(body, key, kind, param=param)
    if value is None or value == "":
        name = param or key
        raise bad_request(
            f"Missing required parameter: '{name}'.", name, "missing_required_parameter"
        )
    return value


def metadata_field(body: dict[str, Any]) -> dict[str, str] | None:
    metadata = field(body, "metadata", dict)
    if metadata is None:
        return None
    # OpenAI: up to 16 pairs, keys up to 64 characters, string values up to 512.
    if len(metadata) > 16:
        raise bad_request("Invalid 'metadata': too many properties (at most 16).", "metadata")
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise bad_request(
                "Invalid 'metadata': keys are strings of at most 64 characters and values "
                "strings of at most 512.",
                "metadata",
            )
    return cast("dict[str, str]", metadata)


def page(
    request: HttpRequest, rows: QuerySet[M], render: Callable[[M], dict[str, Any]]
) -> dict[str, Any]:
    """OpenAI's cursor pagination: limit (1-100, default 20), order (desc), after, before."""
    try:
        limit = int(request.GET.get("limit", "20"))
    except ValueError:
        raise bad_request("Invalid 'limit': expected an integer.", "limit") from None
    if not 1 <= limit <= 100:
        raise bad_request("Invalid 'limit': expected a value between 1 and 100.", "limit")
    order = request.GET.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request("Invalid 'order': expected 'asc' or 'desc'.", "order")
    rows = rows.order_by("id" if order == "asc" else "-id")
    for cursor, forward in (("after", True), ("before", False)):
        given = request.GET.get(cursor)
        if not given:
            continue
        pk = rows.filter(public_id=given).values_list("id", flat=True).first()
        if pk is None:
            raise bad_request(f"Invalid '{cursor}': no object has the id '{given}'.", cursor)
        later = (order == "asc") == forward
        rows = rows.filter(id__gt=pk) if later else rows.filter(id__lt=pk)
    found = list(rows[: limit + 1])
    data = [render(row) for row in found[:limit]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(found) > limit,
    }


def deleted(object_id: str, kind: str) -> dict[str, Any]:
    return {"id": object_id, "object": kind, "deleted": True}


# --- vector stores are corpora ----------------------------------------------------------------


def vector_store_id(corpus: Corpus) -> str:
    return f"vs_{corpus.slug}"


def corpus_for_vector_store(
    token: ApiToken, store_id: str, permission: Permission = Permission.QUERY
) -> Corpus:
    slugs = [store_id.removeprefix("vs_"), store_id] if store_id.startswith("vs_") else [store_id]
    for slug in dict.fromkeys(slugs):
        if token.visible_corpora().filter(slug=slug).exists():
            return corpus_for(token, slug, permission)  # 403 when the permission is missing
    raise not_found(f"No vector store found with id '{store_id}'.")


# --- tools --------------------------------------------------------------------------------------


def tools_field(body: dict[str, Any], key: str = "tools") -> list[dict[str, Any]] | None:
    tools = field(body, key, list)
    if tools is None:
        return None
    if len(tools) > 128:
        raise bad_request(f"Invalid '{key}': at most 128 tools.", key)
    normalized = []
    for index, tool in enumerate(tools):
        param = f"{key}[{index}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind in ("code_interpreter", "function"):
            raise bad_request(
                f"Docent answers from documents only: the {kind} tool is not supported "
                "(the one tool is file_search).",
                f"{param}.type",
                "unsupported_tool",
            )
        if kind != "file_search":
            raise bad_request(
                f"Invalid value for '{param}.type': expected file_search (Docent supports no "
                "other tool).",
                f"{param}.type",
            )
        options = field(tool, "file_search", dict, {}, param=f"{param}.file_search")
        file_search: dict[str, Any] = {}
        limit = field(options, "max_num_results", int, param=f"{param}.file_search.max_num_results")
        if limit is not None:
            if not 1 <= limit <= 50:
                raise bad_request(
                    "Invalid 'max_num_results': expected a value between 1 and 50.",
                    f"{param}.file_search.max_num_results",
                )
            file_search["max_num_results"] = limit
        ranking = field(options, "ranking_options", dict, {})
        file_search["ranking_options"] = {**DEFAULT_RANKING, **ranking}
        normalized.append({"type": "file_search", "file_search": file_search})
    return normalized


def tool_resources_field(
    token: ApiToken, body: dict[str, Any], key: str = "tool_resources"
) -> tuple[dict[str, Any], Corpus | None] | None:
    """Normalized tool resources and the corpus their vector store names (at most one)."""
    resources = field(body, key, dict)
    if resources is None:
        return None
    interpreter = field(resources, "code_interpreter", dict, {}, param=f"{key}.code_interpreter")
    if interpreter.get("file_ids"):
        raise bad_request(
            "Docent answers from documents only: code_interpreter files are not supported.",
            f"{key}.code_interpreter",
            "unsupported_tool",
        )
    search = field(resources, "file_search", dict, param=f"{key}.file_search")
    if search is None:
        return {}, None
    param = f"{key}.file_search"
    if search.get("vector_stores"):
        raise bad_request(
            "Vector stores are Docent corpora and cannot be created here: pass the id of an "
            "existing one (GET /v1/vector_stores lists them) in vector_store_ids.",
            f"{param}.vector_stores",
            "unsupported_parameter",
        )
    ids = field(search, "vector_store_ids", list, [], param=f"{param}.vector_store_ids")
    if len(ids) > 1:
        raise bad_request(
            "Invalid 'vector_store_ids': at most 1 vector store (a Docent corpus) per assistant "
            "or thread.",
            f"{param}.vector_store_ids",
        )
    if not ids:
        return {"file_search": {"vector_store_ids": []}}, None
    if not isinstance(ids[0], str):
        raise bad_request(
            "Invalid type for 'vector_store_ids[0]': expected a string.",
            f"{param}.vector_store_ids[0]",
        )
    corpus = corpus_for_vector_store(token, ids[0])
    return {"file_search": {"vector_store_ids": [vector_store_id(corpus)]}}, corpus


def response_format_field(body: dict[str, Any]) -> Any:
    value = body.get("response_format")
    if value in (None, "auto") or value == {"type": "text"}:
        return value or "auto"
    raise bad_request(
        "Docent answers in text with citations: response_format must be 'auto' or "
        "{'type': 'text'}.",
        "response_format",
        "unsupported_parameter",
    )


def store_ids(resources: dict[str, Any]) -> Sequence[str]:
    return (resources.get("file_search") or {}).get("vector_store_ids") or []


# --- assistants -----------------------------------------------------------------------------------


def assistant_wire(assistant: Assistant) -> dict[str, Any]:
    return {
        "id": assistant.public_id,
        "object": "assistant",
        "created_at": int(assistant.created_at.timestamp()),
        "name": assistant.name,
        "description": assistant.description,
        "model": assistant.model,
        "instructions": assistant.instructions,
        "tools": assistant.tools,
        "top_p": assistant.top_p,
        "temperature": assistant.temperature,
        "reasoning_effort": None,
        "tool_resources": assistant.tool_resources,
        "metadata": assistant.metadata,
        "response_format": assistant.response_format,
    }


def assistant_for(token: ApiToken, assistant_id: str) -> Assistant:
    assistant = Assistant.objects.filter(user=token.user, public_id=assistant_id).first()
    if assistant is None:
        raise not_found(f"No assistant found with id '{assistant_id}'.")
    return assistant


def _assistant_fields(token: ApiToken, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if creating or "model" in body:
        fields["model"] = required(body, "model", str)[:256]
    for key, limit in (("name", 256), ("description", 512), ("instructions", 256_000)):
        if key in body:
            value = field(body, key, str)
            if value is not None and len(value) > limit:
                raise bad_request(f"Invalid '{key}': at most {limit} characters.", key)
            fields[key] = value
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            value = field(body, key, float)
            if not 0 <= value <= (2 if key == "temperature" else 1):
                raise bad_request(f"Invalid '{key}': out of range.", key)
            fields[key] = value
    tools = tools_field(body)
    if tools is not None:
        fields["tools"] = tools
    resources = tool_resources_field(token, body)
    if resources is not None:
        fields["tool_resources"] = resources[0]
    metadata = metadata_field(body)
    if metadata is not None or "metadata" in body:
        fields["metadata"] = metadata or {}
    if "response_format" in body:
        fields["response_format"] = response_format_field(body)
    return fields


@router.post("/assistants")
def assistant_create(request: HttpRequest) -> dict[str, Any]:
    token = request_token(request)
    fields = _assistant_fields(token, json_body(request), creating=True)
    return assistant_wire(services.assistant_create(token=token, fields=fields))


@router.get("/assistants")
def assistant_list(request: HttpRequest) -> dict[str, Any]:
    token = request_token(request)
    return page(request, Assistant.objects.filter(user=token.user), assistant_wire)


@router.get("/assistants/{assistant_id}")
def assistant_retrieve(request: HttpRequest, assistant_id: str) -> dict[str, Any]:
    return assistant_wire(assistant_for(request_token(request), assistant_id))


@router.post("/assistants/{assistant_id}")
def assistant_update(request: HttpRequest, assistant_id: str) -> dict[str, Any]:
    token = request_token(request)
    assistant = assistant_for(token, assistant_id)
    fields = _assistant_fields(token, json_body(request), creating=False)
    return assistant_wire(services.assistant_update(assistant=assistant, fields=fields))


@router.delete("/assistants/{assistant_id}")
def assistant_delete(request: HttpRequest, assistant_id: str) -> dict[str, Any]:
    assistant = assistant_for(request_token(request), assistant_id)
    services.assistant_delete(assistant=assistant)
    return deleted(assistant_id, "assistant.deleted")

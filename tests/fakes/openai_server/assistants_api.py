"""/v1/assistants, /v1/threads and thread messages (Assistants API v2)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from . import ingest
from .search import validate_max_num_results, validate_ranking
from .state import Thread
from .wire import (
    JsonReply,
    Request,
    bad_request,
    deleted,
    not_found,
    optional,
    paginate,
    require,
)

if TYPE_CHECKING:
    from .server import FakeOpenAIServer, Route

DEFAULT_RANKING = {"ranker": "default_2024_08_21", "score_threshold": 0.0, "hybrid_search": None}


def normalize_tools(tools: Any, param: str = "tools") -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise bad_request(f"Invalid type for '{param}': expected an array.", param=param)
    normalized = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") not in (
            "file_search",
            "code_interpreter",
            "function",
        ):
            raise bad_request(
                f"Invalid '{param}[{index}].type': expected file_search, code_interpreter or"
                " function.",
                param=f"{param}[{index}].type",
            )
        if tool["type"] != "file_search":
            normalized.append(copy.deepcopy(tool))
            continue
        given = tool.get("file_search") or {}
        here = f"{param}[{index}].file_search"
        file_search: dict[str, Any] = {}
        if given.get("max_num_results") is not None:
            file_search["max_num_results"] = validate_max_num_results(
                given["max_num_results"], f"{here}.max_num_results"
            )
        ranking = validate_ranking(given.get("ranking_options"), f"{here}.ranking_options")
        file_search["ranking_options"] = {**DEFAULT_RANKING, **ranking}
        normalized.append({"type": "file_search", "file_search": file_search})
    return normalized


def normalize_tool_resources(
    app: FakeOpenAIServer, resources: Any, param: str = "tool_resources"
) -> dict[str, Any]:
    if resources is None:
        return {}
    if not isinstance(resources, dict):
        raise bad_request(f"Invalid type for '{param}': expected an object.", param=param)
    normalized: dict[str, Any] = {}
    if resources.get("code_interpreter") is not None:
        file_ids = resources["code_interpreter"].get("file_ids") or []
        normalized["code_interpreter"] = {"file_ids": list(file_ids)}
    if resources.get("file_search") is not None:
        ids = ingest.resolve_file_search_stores(
            app, resources["file_search"], f"{param}.file_search"
        )
        normalized["file_search"] = {"vector_store_ids": ids}
    return normalized


def store_ids(resources: dict[str, Any]) -> list[str]:
    return list((resources.get("file_search") or {}).get("vector_store_ids") or [])


# --- assistants -----------------------------------------------------------------------------------


def get_assistant(app: FakeOpenAIServer, assistant_id: str) -> dict[str, Any]:
    assistant = app.state.assistants.get(assistant_id)
    if assistant is None:
        raise not_found(f"No assistant found with id '{assistant_id}'.")
    return assistant


def create_assistant(app: FakeOpenAIServer, request: Request) -> JsonReply:
    body = request.body()
    assistant = {
        "id": app.state.ids.new("assistant"),
        "object": "assistant",
        "created_at": app.now(),
        "name": optional(body, "name", str),
        "description": optional(body, "description", str),
        "model": require(body, "model", str),
        "instructions": optional(body, "instructions", str),
        "tools": normalize_tools(body.get("tools")),
        "top_p": float(optional(body, "top_p", float, 1.0)),
        "temperature": float(optional(body, "temperature", float, 1.0)),
        "reasoning_effort": optional(body, "reasoning_effort", str),
        "tool_resources": normalize_tool_resources(app, body.get("tool_resources")),
        "metadata": optional(body, "metadata", dict, {}),
        "response_format": body.get("response_format") or "auto",
    }
    app.state.assistants[assistant["id"]] = assistant
    return JsonReply(copy.deepcopy(assistant))


def list_assistants(app: FakeOpenAIServer, request: Request) -> JsonReply:
    return JsonReply(paginate(copy.deepcopy(list(app.state.assistants.values())), request))


def retrieve_assistant(app: FakeOpenAIServer, request: Request, assistant_id: str) -> JsonReply:
    return JsonReply(copy.deepcopy(get_assistant(app, assistant_id)))


def modify_assistant(app: FakeOpenAIServer, request: Request, assistant_id: str) -> JsonReply:
    assistant = get_assistant(app, assistant_id)
    body = request.body()
    for key in ("name", "description", "model", "instructions", "reasoning_effort"):
        if key in body:
            assistant[key] = optional(body, key, str)
    for key in ("top_p", "temperature"):
        if body.get(key) is not None:
            assistant[key] = float(optional(body, key, float))
    if "metadata" in body:
        assistant["metadata"] = optional(body, "metadata", dict, {})
    if "tools" in body:
        assistant["tools"] = normalize_tools(body["tools"])
    if "tool_resources" in body:
        assistant["tool_resources"] = normalize_tool_resources(app, body["tool_resources"])
    if "response_format" in body:
        assistant["response_format"] = body["response_format"] or "auto"
    return JsonReply(copy.deepcopy(assistant))


def delete_assistant(app: FakeOpenAIServer, request: Request, assistant_id: str) -> JsonReply:
    get_assistant(app, assistant_id)
    del app.state.assistants[assistant_id]
    return JsonReply(deleted(assistant_id, "assistant.deleted"))


# --- threads and messages -------------------------------------------------------------------------


def get_thread(app: FakeOpenAIServer, thread_id: str) -> Thread:
    thread = app.state.threads.get(thread_id)
    if thread is None:
        raise not_found(f"No thread found with id '{thread_id}'.")
    return thread


def new_message(
    app: FakeOpenAIServer,
    thread: Thread,
    spec: Any,
    *,
    param: str = "messages",
    run_id: str | None = None,
    assistant_id: str | None = None,
) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise bad_request(f"Invalid '{param}': expected an object.", param=param)
    role = require(spec, "role", str)
    if role not in ("user", "assistant"):
        raise bad_request(
            f"Invalid value: '{role}'. Supported values are: 'user' and 'assistant'.",
            param=f"{param}.role",
        )
    content = require(spec, "content", (str, list))
    if isinstance(content, str):
        parts = [{"type": "text", "text": {"value": content, "annotations": []}}]
    else:
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                text = part.get("text")
                value = text.get("value") if isinstance(text, dict) else text
                parts.append({"type": "text", "text": {"value": value or "", "annotations": []}})
            else:
                parts.append(copy.deepcopy(part))
    attachments = optional(spec, "attachments", list, [])
    _attach_to_thread(app, thread, attachments)
    now = app.now()
    message = {
        "id": app.state.ids.new("message"),
        "object": "thread.message",
        "created_at": now,
        "assistant_id": assistant_id,
        "thread_id": thread.wire["id"],
        "run_id": run_id,
        "status": "completed",
        "incomplete_details": None,
        "incomplete_at": None,
        "completed_at": now,
        "role": role,
        "content": parts,
        "attachments": copy.deepcopy(attachments),
        "metadata": optional(spec, "metadata", dict, {}),
    }
    thread.messages.append(message)
    return message


def _attach_to_thread(app: FakeOpenAIServer, thread: Thread, attachments: list[Any]) -> None:
    """Files attached for file_search land in the thread's own vector store, as on the API."""
    file_ids = [
        item["file_id"]
        for item in attachments
        if isinstance(item, dict)
        and any(tool.get("type") == "file_search" for tool in item.get("tools") or [])
    ]
    if not file_ids:
        return
    resources = thread.wire["tool_resources"]
    ids = store_ids(resources)
    if ids:
        store = ingest.get_store(app, ids[0])
    else:
        store = ingest.new_store(app, name=None, metadata={})
        resources["file_search"] = {"vector_store_ids": [store.id]}
    for file_id in file_ids:
        ingest.attach(app, store, file_id)


def new_thread(app: FakeOpenAIServer, body: dict[str, Any]) -> Thread:
    thread = Thread(
        wire={
            "id": app.state.ids.new("thread"),
            "object": "thread",
            "created_at": app.now(),
            "metadata": optional(body, "metadata", dict, {}),
            "tool_resources": normalize_tool_resources(app, body.get("tool_resources")),
        }
    )
    app.state.threads[thread.wire["id"]] = thread
    for spec in optional(body, "messages", list, []):
        new_message(app, thread, spec)
    return thread


def create_thread(app: FakeOpenAIServer, request: Request) -> JsonReply:
    return JsonReply(copy.deepcopy(new_thread(app, request.body()).wire))


def retrieve_thread(app: FakeOpenAIServer, request: Request, thread_id: str) -> JsonReply:
    return JsonReply(copy.deepcopy(get_thread(app, thread_id).wire))


def modify_thread(app: FakeOpenAIServer, request: Request, thread_id: str) -> JsonReply:
    thread = get_thread(app, thread_id)
    body = request.body()
    if "metadata" in body:
        thread.wire["metadata"] = optional(body, "metadata", dict, {})
    if "tool_resources" in body:
        thread.wire["tool_resources"] = normalize_tool_resources(app, body["tool_resources"])
    return JsonReply(copy.deepcopy(thread.wire))


def delete_thread(app: FakeOpenAIServer, request: Request, thread_id: str) -> JsonReply:
    get_thread(app, thread_id)
    del app.state.threads[thread_id]
    return JsonReply(deleted(thread_id, "thread.deleted"))


def create_message(app: FakeOpenAIServer, request: Request, thread_id: str) -> JsonReply:
    thread = get_thread(app, thread_id)
    return JsonReply(copy.deepcopy(new_message(app, thread, request.body(), param="body")))


def list_messages(app: FakeOpenAIServer, request: Request, thread_id: str) -> JsonReply:
    thread = get_thread(app, thread_id)
    run_id = request.arg("run_id")
    rows = [m for m in thread.messages if run_id is None or m["run_id"] == run_id]
    return JsonReply(paginate(copy.deepcopy(rows), request))


def _get_message(thread: Thread, message_id: str) -> dict[str, Any]:
    for message in thread.messages:
        if message["id"] == message_id:
            return message
    raise not_found(f"No message found with id '{message_id}'.")


def retrieve_message(
    app: FakeOpenAIServer, request: Request, thread_id: str, message_id: str
) -> JsonReply:
    return JsonReply(copy.deepcopy(_get_message(get_thread(app, thread_id), message_id)))


def modify_message(
    app: FakeOpenAIServer, request: Request, thread_id: str, message_id: str
) -> JsonReply:
    message = _get_message(get_thread(app, thread_id), message_id)
    body = request.body()
    if "metadata" in body:
        message["metadata"] = optional(body, "metadata", dict, {})
    return JsonReply(copy.deepcopy(message))


def delete_message(
    app: FakeOpenAIServer, request: Request, thread_id: str, message_id: str
) -> JsonReply:
    thread = get_thread(app, thread_id)
    thread.messages.remove(_get_message(thread, message_id))
    return JsonReply(deleted(message_id, "thread.message.deleted"))


ASSISTANT = "/assistants/{assistant_id}"
THREAD = "/threads/{thread_id}"
ROUTES: list[Route] = [
    ("POST", "/assistants", create_assistant),
    ("GET", "/assistants", list_assistants),
    ("GET", ASSISTANT, retrieve_assistant),
    ("POST", ASSISTANT, modify_assistant),
    ("DELETE", ASSISTANT, delete_assistant),
    ("POST", "/threads", create_thread),
    ("GET", THREAD, retrieve_thread),
    ("POST", THREAD, modify_thread),
    ("DELETE", THREAD, delete_thread),
    ("POST", THREAD + "/messages", create_message),
    ("GET", THREAD + "/messages", list_messages),
    ("GET", THREAD + "/messages/{message_id}", retrieve_message),
    ("POST", THREAD + "/messages/{message_id}", modify_message),
    ("DELETE", THREAD + "/messages/{message_id}", delete_message),
]

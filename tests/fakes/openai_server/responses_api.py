"""/v1/responses: the file_search tool, conversation state and the streamed event sequence."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from . import ingest
from .conversations_api import get_conversation, normalize_items
from .model import Answer, Claim, echo_answer, message_text, retrieve_and_answer, user_texts
from .responses_stream import response_events
from .search import validate_filter, validate_max_num_results, validate_ranking
from .state import StoredResponse
from .text import word_count
from .wire import (
    ApiError,
    JsonReply,
    Reply,
    Request,
    StreamReply,
    bad_request,
    not_found,
    optional,
    paginate,
    require,
)

if TYPE_CHECKING:
    from .server import FakeOpenAIServer, Route

RESULTS_INCLUDE = "file_search_call.results"
DEFAULT_MAX_NUM_RESULTS = 20


def _tools(app: FakeOpenAIServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = optional(body, "tools", list, [])
    normalized = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or "type" not in tool:
            raise bad_request(f"Missing required parameter: 'tools[{index}].type'.", param="tools")
        if tool["type"] != "file_search":
            normalized.append(copy.deepcopy(tool))
            continue
        store_ids = tool.get("vector_store_ids")
        if not isinstance(store_ids, list) or not store_ids:
            raise bad_request(
                f"Missing required parameter: 'tools[{index}].vector_store_ids'.",
                param=f"tools[{index}].vector_store_ids",
                code="missing_required_parameter",
            )
        for store_id in store_ids:
            ingest.get_store(app, store_id)
        filters = tool.get("filters")
        if filters is not None:
            validate_filter(filters, f"tools[{index}].filters")
        validate_max_num_results(tool.get("max_num_results"), f"tools[{index}].max_num_results")
        given = validate_ranking(tool.get("ranking_options"), f"tools[{index}].ranking_options")
        ranking = {"ranker": "auto", "score_threshold": 0.0, **given}
        normalized.append(
            {
                "type": "file_search",
                "filters": filters,
                "max_num_results": tool.get("max_num_results") or DEFAULT_MAX_NUM_RESULTS,
                "ranking_options": ranking,
                "vector_store_ids": list(store_ids),
            }
        )
    return normalized


def _history(app: FakeOpenAIServer, response_id: str | None) -> list[dict[str, Any]]:
    """Every item a previous_response_id chain carries, oldest first."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    while response_id and response_id not in seen:
        seen.add(response_id)
        stored = app.state.responses.get(response_id)
        if stored is None:
            break
        items = stored.input_items + stored.wire["output"] + items
        response_id = stored.wire.get("previous_response_id")
    return items


def _render(answer: Answer) -> tuple[str, list[dict[str, Any]]]:
    text = ""
    annotations: list[dict[str, Any]] = []
    for claim in answer.claims:
        text += (" " if text else "") + claim.text
        if claim.hit is not None:
            annotations.append(
                {
                    "type": "file_citation",
                    "file_id": claim.hit.file_id,
                    "filename": claim.hit.filename,
                    "index": len(text),
                }
            )
        text += claim.end
    return text, annotations


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _envelope(body: dict[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The request-echoing fields of a Response, in the wire's key order."""
    reasoning = optional(body, "reasoning", dict, {})
    text = {"format": {"type": "text"}, "verbosity": "medium", **optional(body, "text", dict, {})}
    return {
        "frequency_penalty": 0.0,
        "incomplete_details": None,
        "instructions": optional(body, "instructions", (str, list)),
        "max_output_tokens": optional(body, "max_output_tokens", int),
        "max_tool_calls": optional(body, "max_tool_calls", int),
        "model": require(body, "model", str),
        "moderation": None,
        "output": [],
        "parallel_tool_calls": optional(body, "parallel_tool_calls", bool, True),
        "presence_penalty": 0.0,
        "previous_response_id": optional(body, "previous_response_id", str),
        "prompt_cache_key": optional(body, "prompt_cache_key", str),
        "prompt_cache_retention": optional(body, "prompt_cache_retention", str, "in_memory"),
        "reasoning": {
            "context": None,
            "effort": reasoning.get("effort"),
            "summary": reasoning.get("summary"),
        },
        "safety_identifier": optional(body, "safety_identifier", str),
        "service_tier": "default",
        "store": optional(body, "store", bool, True),
        "temperature": float(optional(body, "temperature", float, 1.0)),
        "text": text,
        "tool_choice": body.get("tool_choice") or "auto",
        "tool_usage": {
            "image_gen": {
                "input_tokens": 0,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                "output_tokens": 0,
                "output_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                "total_tokens": 0,
            },
            "web_search": {"num_requests": 0},
        },
        "tools": tools,
        "top_logprobs": optional(body, "top_logprobs", int, 0),
        "top_p": float(optional(body, "top_p", float, 1.0)),
        "truncation": optional(body, "truncation", str, "disabled"),
        "usage": None,
        "user": optional(body, "user", str),
        "metadata": optional(body, "metadata", dict, {}),
    }


def create(app: FakeOpenAIServer, request: Request) -> Reply:
    body = request.body()
    state = app.state
    tools = _tools(app, body)
    envelope = _envelope(body, tools)
    include = optional(body, "include", list, [])
    stream = optional(body, "stream", bool, False)
    previous_id = envelope["previous_response_id"]
    conversation_ref = body.get("conversation")
    if previous_id and conversation_ref:
        raise bad_request(
            "Mutually exclusive parameters: Ensure you are only providing one of:"
            " 'previous_response_id' or 'conversation'.",
        )
    history: list[dict[str, Any]] = []
    conversation = None
    if conversation_ref is not None:
        conversation_id = (
            conversation_ref.get("id") if isinstance(conversation_ref, dict) else conversation_ref
        )
        if not isinstance(conversation_id, str):
            raise bad_request("Invalid 'conversation': expected an id.", param="conversation")
        conversation = get_conversation(app, conversation_id)
        history = list(conversation.items)
    if previous_id:
        if previous_id not in state.responses:
            raise ApiError(
                400,
                f"Previous response with id '{previous_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        history = _history(app, previous_id)
    input_items = normalize_items(app, body.get("input"), id_kind="response_message", param="input")

    questions = user_texts(history + input_items)
    question = questions[-1] if questions else ""
    previous_question = questions[-2] if len(questions) > 1 else None
    output: list[dict[str, Any]] = []
    retrieved_words = 0
    file_search = next((tool for tool in tools if tool["type"] == "file_search"), None)
    if file_search is not None:
        retrieval = retrieve_and_answer(
            state,
            question=question,
            previous_question=previous_question,
            vector_store_ids=file_search["vector_store_ids"],
            max_num_results=file_search["max_num_results"],
            filters=file_search["filters"],
            score_threshold=float(file_search["ranking_options"].get("score_threshold") or 0.0),
        )
        answer = retrieval.answer
        retrieved_words = sum(word_count(hit.text) for hit in retrieval.hits)
        results = None
        if RESULTS_INCLUDE in include:
            results = [
                {
                    "attributes": hit.attributes,
                    "file_id": hit.file_id,
                    "filename": hit.filename,
                    "score": hit.score,
                    "text": hit.text,
                }
                for hit in retrieval.hits
            ]
        output.append(
            {
                "id": state.ids.new("file_search_call"),
                "type": "file_search_call",
                "status": "completed",
                "queries": [retrieval.plan.query],
                "results": results,
            }
        )
    else:
        answer = echo_answer(question, previous_question)
    if app.response_queue:
        answer = Answer([Claim(app.response_queue.popleft())])

    text, annotations = _render(answer)
    status, incomplete, error = "completed", None, None
    limit = envelope["max_output_tokens"]
    if limit is not None and word_count(text) > limit:
        text = " ".join(text.split()[:limit])
        annotations = [a for a in annotations if a["index"] <= len(text)]
        status, incomplete = "incomplete", {"reason": "max_output_tokens"}
    part = {"type": "output_text", "annotations": annotations, "logprobs": [], "text": text}
    message = {
        "id": state.ids.new("response_message"),
        "type": "message",
        "status": status,
        "content": [part],
        "role": "assistant",
    }
    failing = None
    if app.response_failures:
        # The failed response keeps what it finished (the search), not the message it was writing.
        code, reason = app.response_failures.popleft()
        status, error, failing = "failed", {"code": code, "message": reason}, message
    else:
        output.append(message)

    prompt_text = [message_text(envelope["instructions"]) if envelope["instructions"] else ""]
    prompt_text += [message_text(item.get("content")) for item in history + input_items]
    usage = _usage(sum(word_count(t) for t in prompt_text) + retrieved_words, word_count(text))
    now = app.now()
    response_id = state.ids.new("response")
    head = {
        "id": response_id,
        "object": "response",
        "created_at": now,
        "status": "in_progress",
        "background": optional(body, "background", bool, False),
        "billing": {"payer": "developer"},
        "completed_at": None,
        "conversation": {"id": conversation.id} if conversation else None,
        "error": None,
    }
    initial = {**head, **envelope}
    final = {
        **initial,
        "status": status,
        "completed_at": now if error is None else None,
        "error": error,
        "incomplete_details": incomplete,
        "output": output,
        "usage": usage if error is None else None,
    }
    if final["store"]:
        state.responses[response_id] = StoredResponse(
            wire=copy.deepcopy(final), input_items=copy.deepcopy(input_items)
        )
    if conversation is not None:
        conversation.items.extend(copy.deepcopy(input_items + output))
    if not stream:
        return JsonReply(final)
    return StreamReply(response_events(app, initial, final, failing=failing))


def _get(app: FakeOpenAIServer, response_id: str) -> StoredResponse:
    stored = app.state.responses.get(response_id)
    if stored is None:
        raise not_found(f"Response with id '{response_id}' not found.")
    return stored


def retrieve(app: FakeOpenAIServer, request: Request, response_id: str) -> JsonReply:
    return JsonReply(copy.deepcopy(_get(app, response_id).wire))


def delete(app: FakeOpenAIServer, request: Request, response_id: str) -> JsonReply:
    _get(app, response_id)
    del app.state.responses[response_id]
    return JsonReply({"id": response_id, "object": "response", "deleted": True})


def input_items(app: FakeOpenAIServer, request: Request, response_id: str) -> JsonReply:
    stored = _get(app, response_id)
    page = paginate(copy.deepcopy(stored.input_items), request)
    # This list puts has_more before last_id on the wire.
    return JsonReply(
        {
            "object": "list",
            "data": page["data"],
            "first_id": page["first_id"],
            "has_more": page["has_more"],
            "last_id": page["last_id"],
        }
    )


ROUTES: list[Route] = [
    ("POST", "/responses", create),
    ("GET", "/responses/{response_id}", retrieve),
    ("DELETE", "/responses/{response_id}", delete),
    ("GET", "/responses/{response_id}/input_items", input_items),
]

"""How the fake executes an Assistants run: synchronously and deterministically, with its
steps, the answer rendered with `【n:m†file】` markers, and the events a streamed run sends."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .assistants_api import get_assistant, new_message, normalize_tools, store_ids
from .model import Answer, Claim, echo_answer, message_text, retrieve_and_answer
from .state import Run, Thread
from .text import split_deltas, word_count
from .wire import SSEEvent, optional, require, sse

if TYPE_CHECKING:
    from .server import FakeOpenAIServer

RESULTS_INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
RUN_TTL_SECONDS = 600
DEFAULT_MAX_NUM_RESULTS = 20


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_token_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _render(answer: Answer, marker_base: int) -> tuple[str, list[dict[str, Any]]]:
    """Text with `【n:m†file】` markers and the file_citation annotations that point at them."""
    text = ""
    annotations: list[dict[str, Any]] = []
    for claim in answer.claims:
        text += (" " if text else "") + claim.text
        if claim.hit is not None:
            marker = f"【{marker_base}:{len(annotations)}†{claim.hit.filename}】"
            annotations.append(
                {
                    "type": "file_citation",
                    "text": marker,
                    "start_index": len(text),
                    "end_index": len(text) + len(marker),
                    "file_citation": {"file_id": claim.hit.file_id},
                }
            )
            text += marker
        text += claim.end
    return text, annotations


def _step(run: dict[str, Any], step_id: str, details: dict[str, Any], now: int) -> dict[str, Any]:
    return {
        "id": step_id,
        "object": "thread.run.step",
        "created_at": now,
        "run_id": run["id"],
        "assistant_id": run["assistant_id"],
        "thread_id": run["thread_id"],
        "type": details["type"],
        "status": "completed",
        "cancelled_at": None,
        "completed_at": now,
        "expires_at": None,
        "failed_at": None,
        "last_error": None,
        "step_details": details,
        "usage": None,
    }


def _run_params(app: FakeOpenAIServer, body: dict[str, Any]) -> dict[str, Any]:
    assistant = get_assistant(app, require(body, "assistant_id", str))
    tools = assistant["tools"] if body.get("tools") is None else normalize_tools(body["tools"])
    instructions = optional(body, "instructions", str, assistant["instructions"])
    extra = optional(body, "additional_instructions", str)
    if extra:
        instructions = f"{instructions}\n{extra}" if instructions else extra
    return {
        "assistant": assistant,
        "model": optional(body, "model", str, assistant["model"]),
        "instructions": instructions,
        "tools": tools,
        "metadata": optional(body, "metadata", dict, {}),
        "temperature": float(optional(body, "temperature", float, assistant["temperature"])),
        "top_p": float(optional(body, "top_p", float, assistant["top_p"])),
        "max_completion_tokens": optional(body, "max_completion_tokens", int),
        "max_prompt_tokens": optional(body, "max_prompt_tokens", int),
        "truncation_strategy": optional(
            body, "truncation_strategy", dict, {"type": "auto", "last_messages": None}
        ),
        "tool_choice": body.get("tool_choice") or "auto",
        "parallel_tool_calls": optional(body, "parallel_tool_calls", bool, True),
        "response_format": body.get("response_format") or assistant["response_format"],
        "reasoning_effort": optional(body, "reasoning_effort", str),
    }


def execute_run(
    app: FakeOpenAIServer, thread: Thread, body: dict[str, Any], include: list[str]
) -> tuple[dict[str, Any], list[Any]]:
    """Runs to completion; returns the queued snapshot and the stream events (minus `done`)."""
    params = _run_params(app, body)
    assistant = params.pop("assistant")
    for index, spec in enumerate(optional(body, "additional_messages", list, [])):
        new_message(app, thread, spec, param=f"additional_messages[{index}]")
    state, now = app.state, app.now()
    run_index = len(thread.runs)
    queued = {
        "id": state.ids.new("run"),
        "object": "thread.run",
        "created_at": now,
        "assistant_id": assistant["id"],
        "thread_id": thread.wire["id"],
        "status": "queued",
        "started_at": None,
        "expires_at": now + RUN_TTL_SECONDS,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "required_action": None,
        "last_error": None,
        "model": params["model"],
        "instructions": params["instructions"],
        "tools": params["tools"],
        "tool_resources": {},
        "metadata": params["metadata"],
        "temperature": params["temperature"],
        "top_p": params["top_p"],
        "reasoning_effort": params["reasoning_effort"],
        "max_completion_tokens": params["max_completion_tokens"],
        "max_prompt_tokens": params["max_prompt_tokens"],
        "truncation_strategy": params["truncation_strategy"],
        "incomplete_details": None,
        "usage": None,
        "response_format": params["response_format"],
        "tool_choice": params["tool_choice"],
        "parallel_tool_calls": params["parallel_tool_calls"],
    }
    run = Run(wire=copy.deepcopy(queued))
    thread.runs[queued["id"]] = run
    questions = [message_text(m["content"]) for m in thread.messages if m["role"] == "user"]
    question = questions[-1] if questions else ""
    previous = questions[-2] if len(questions) > 1 else None
    prompt_words = word_count(params["instructions"] or "") + sum(
        word_count(message_text(m["content"])) for m in thread.messages
    )

    events: list[SSEEvent] = [sse("thread.run.created", queued), sse("thread.run.queued", queued)]
    running = {**queued, "status": "in_progress", "started_at": now}
    events.append(sse("thread.run.in_progress", running))
    if app.run_failures:
        code, message = app.run_failures.popleft()
        run.wire = {
            **running,
            "status": "failed",
            "expires_at": None,
            "failed_at": now,
            "last_error": {"code": code, "message": message},
        }
        events.append(sse("thread.run.failed", run.wire))
        return queued, events

    stores = list(
        dict.fromkeys(
            store_ids(thread.wire["tool_resources"]) + store_ids(assistant["tool_resources"])
        )
    )
    search_tool = next((t for t in params["tools"] if t["type"] == "file_search"), None)
    if search_tool is not None and stores:
        options = search_tool["file_search"]
        ranking = options["ranking_options"]
        retrieval = retrieve_and_answer(
            state,
            question=question,
            previous_question=previous,
            vector_store_ids=stores,
            max_num_results=options.get("max_num_results") or DEFAULT_MAX_NUM_RESULTS,
            filters=None,
            score_threshold=float(ranking.get("score_threshold") or 0.0),
        )
        answer = retrieval.answer
        results = [
            {
                "file_id": hit.file_id,
                "file_name": hit.filename,
                "score": hit.score,
                "attributes": hit.attributes,
                "content": [{"type": "text", "text": hit.text}],
            }
            for hit in retrieval.hits
        ]
        prompt_words += sum(word_count(hit.text) for hit in retrieval.hits)
        call: dict[str, Any] = {
            "id": state.ids.new("call"),
            "type": "file_search",
            "file_search": {
                "ranking_options": {
                    "ranker": ranking["ranker"],
                    "score_threshold": ranking["score_threshold"],
                },
                "results": results,
            },
        }
        step = _step(
            queued, state.ids.new("step"), {"type": "tool_calls", "tool_calls": [call]}, now
        )
        step["usage"] = _usage(prompt_words, 0)
        run.steps.append(step)
        opened = {
            **step,
            "status": "in_progress",
            "completed_at": None,
            "expires_at": queued["expires_at"],
            "step_details": {"type": "tool_calls", "tool_calls": []},
            "usage": None,
        }
        events += [
            sse("thread.run.step.created", opened),
            sse("thread.run.step.in_progress", opened),
        ]
        empty_call = {"index": 0, **call, "file_search": {**call["file_search"], "results": []}}
        delta = {"step_details": {"type": "tool_calls", "tool_calls": [empty_call]}}
        events.append(
            sse(
                "thread.run.step.delta",
                {"id": step["id"], "object": "thread.run.step.delta", "delta": delta},
            )
        )
        streamed = {**strip_results(step, include), "expires_at": queued["expires_at"]}
        events.append(sse("thread.run.step.completed", streamed))
    else:
        answer = echo_answer(question, previous)
    if app.run_queue:
        answer = Answer([Claim(app.run_queue.popleft())])

    text, annotations = _render(answer, marker_base=4 + 2 * run_index)
    message = new_message(
        app,
        thread,
        {"role": "assistant", "content": text},
        run_id=queued["id"],
        assistant_id=assistant["id"],
    )
    message["content"][0]["text"]["annotations"] = annotations
    step = _step(
        queued,
        state.ids.new("step"),
        {"type": "message_creation", "message_creation": {"message_id": message["id"]}},
        now,
    )
    step["usage"] = _usage(prompt_words, word_count(text))
    run.steps.append(step)
    opened = {
        **step,
        "status": "in_progress",
        "completed_at": None,
        "expires_at": queued["expires_at"],
        "usage": None,
    }
    events += [sse("thread.run.step.created", opened), sse("thread.run.step.in_progress", opened)]
    pending = {**message, "status": "in_progress", "completed_at": None, "content": []}
    events += [sse("thread.message.created", pending), sse("thread.message.in_progress", pending)]
    events += _message_deltas(message["id"], text, annotations)
    events.append(sse("thread.message.completed", message))
    # Streamed steps keep the run's expiry; the stored (GET) ones have none, as on the wire.
    events.append(sse("thread.run.step.completed", {**step, "expires_at": queued["expires_at"]}))

    total = _usage(sum(s["usage"]["prompt_tokens"] for s in run.steps), word_count(text))
    run.wire = {
        **running,
        "expires_at": None,
        "completed_at": now,
        "status": "completed",
        "usage": total,
    }
    events.append(sse("thread.run.completed", run.wire))
    return queued, events


def _message_deltas(
    message_id: str, text: str, annotations: list[dict[str, Any]]
) -> list[SSEEvent]:
    pieces: list[tuple[str, dict[str, Any] | None]] = []
    cursor = 0
    for index, annotation in enumerate(annotations):
        pieces += [(p, None) for p in split_deltas(text[cursor : annotation["start_index"]]) if p]
        quoted = {"index": index, **annotation}
        quoted["file_citation"] = {**annotation["file_citation"], "quote": ""}
        pieces.append((annotation["text"], quoted))
        cursor = annotation["end_index"]
    pieces += [(p, None) for p in split_deltas(text[cursor:]) if p]
    events = []
    for position, (value, cited) in enumerate(pieces):
        part: dict[str, Any] = {"value": value}
        if position == 0 or cited is not None:
            part["annotations"] = [cited] if cited else []
        delta = {"content": [{"index": 0, "type": "text", "text": part}]}
        events.append(
            sse(
                "thread.message.delta",
                {"id": message_id, "object": "thread.message.delta", "delta": delta},
            )
        )
    return events


def strip_results(step: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """Result content is only on the wire when `include` asks for it."""
    if RESULTS_INCLUDE in include or step["type"] != "tool_calls":
        return copy.deepcopy(step)
    stripped = copy.deepcopy(step)
    for call in stripped["step_details"]["tool_calls"]:
        for result in (call.get("file_search") or {}).get("results") or []:
            result.pop("content", None)
    return stripped

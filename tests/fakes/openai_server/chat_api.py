"""/v1/chat/completions, streamed and not, with stream_options.include_usage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import chat_reply, message_text
from .text import split_deltas, word_count
from .wire import (
    DONE,
    ApiError,
    JsonReply,
    Reply,
    Request,
    SSEEvent,
    StreamReply,
    bad_request,
    optional,
    require,
    sse,
)

if TYPE_CHECKING:
    from .server import FakeOpenAIServer, Route

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
SYSTEM_FINGERPRINT = "fp_5f1b8e1d2c"


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _validate(body: dict[str, Any]) -> list[dict[str, Any]]:
    require(body, "model", str)
    messages: list[dict[str, Any]] = require(body, "messages", list)
    if not messages:
        raise bad_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an"
            " empty array instead.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise bad_request(
                f"Invalid value for 'messages[{index}].role': expected one of {', '.join(ROLES)}.",
                param=f"messages[{index}].role",
            )
    temperature = optional(body, "temperature", float)
    if temperature is not None and not 0 <= temperature <= 2:
        raise bad_request(
            f"Invalid 'temperature': decimal out of range. Expected a value between 0 and 2, but"
            f" got {temperature} instead.",
            param="temperature",
            code="decimal_out_of_range",
        )
    if body.get("stream_options") is not None and not body.get("stream"):
        raise bad_request(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    return messages


def create(app: FakeOpenAIServer, request: Request) -> Reply:
    body = request.body()
    messages = _validate(body)
    n = optional(body, "n", int, 1)
    if not 1 <= n <= 128:
        raise ApiError(400, "Invalid 'n': must be between 1 and 128.", param="n")
    text = app.chat_queue.popleft() if app.chat_queue else chat_reply(messages)
    finish_reason = "stop"
    limit = optional(body, "max_completion_tokens", int) or optional(body, "max_tokens", int)
    if limit is not None and word_count(text) > limit:
        text = " ".join(text.split()[:limit])
        finish_reason = "length"
    usage = _usage(
        sum(word_count(message_text(m.get("content"))) for m in messages),
        word_count(text) * n,
    )
    completion_id = app.state.ids.new("chat_completion")
    head = {
        "id": completion_id,
        "object": "chat.completion",
        "created": app.now(),
        "model": body["model"],
    }
    if not optional(body, "stream", bool, False):
        choices: list[dict[str, Any]] = [
            {
                "index": index,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": finish_reason,
            }
            for index in range(n)
        ]
        return JsonReply(
            {
                **head,
                "choices": choices,
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        )
    options = optional(body, "stream_options", dict, {})
    return StreamReply(_chunks(app, head, text, finish_reason, n, usage, options))


def _chunks(
    app: FakeOpenAIServer,
    head: dict[str, Any],
    text: str,
    finish_reason: str,
    n: int,
    usage: dict[str, Any],
    options: dict[str, Any],
) -> list[SSEEvent]:
    include_usage = bool(options.get("include_usage"))
    obfuscate = options.get("include_obfuscation", True) is not False
    base = {
        **head,
        "object": "chat.completion.chunk",
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }

    def chunk(choices: list[dict[str, Any]], chunk_usage: Any = None) -> SSEEvent:
        payload: dict[str, Any] = {**base, "choices": choices}
        if include_usage:
            payload["usage"] = chunk_usage
        if obfuscate:
            payload["obfuscation"] = app.state.ids.noise(9)
        # Chat Completions streams are bare `data:` lines.
        return sse(None, payload)

    def choice(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}

    events = []
    for index in range(n):
        events.append(chunk([choice(index, {"role": "assistant", "content": "", "refusal": None})]))
        events += [
            chunk([choice(index, {"content": piece})]) for piece in split_deltas(text) if piece
        ]
        events.append(chunk([choice(index, {}, finish_reason)]))
    if include_usage:
        events.append(chunk([], usage))
    events.append(SSEEvent(data=DONE))
    return events


ROUTES: list[Route] = [("POST", "/chat/completions", create)]

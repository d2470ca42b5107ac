"""/v1/chat/completions: the question is the last user message, earlier user/assistant pairs
are the history, the corpus's strategy answers."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from ninja import Router, Schema
from pydantic import Field

from api import services
from api.auth import request_token
from api.errors import INTERNAL_MESSAGE, ApiError, api_error_from
from api.models import ApiInterface
from api.openai_compat.corpora import corpus_for_model
from api.openai_compat.errors import openai_error_body
from api.openai_compat.params import openai_request
from api.rest.schemas import Text
from api.streams import aclose, last_event
from chat.models import Message
from chat.services import AskCompleted, AskEvent, AskFailed, AskStarted, AskStopped
from chat.strategies.base import TextDelta, Turn
from chat.streaming import iterate_in_thread

logger = logging.getLogger(__name__)

router = Router()


class ContentPart(Schema):
    type: str
    text: Text | None = None


class ChatMessage(Schema):
    role: str
    content: Text | list[ContentPart] | None = None


class StreamOptions(Schema):
    include_usage: bool | None = False


class ChatCompletionIn(Schema):
    model: Text = Field(max_length=200)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = None


ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def conversation_from(
    messages: Sequence[ChatMessage], *, param: str = "messages"
) -> tuple[list[Turn], str]:
    """The earlier turns and the question. System and developer messages are instructions
    for a model of the client's choosing; Docent answers from its documents with its own
    prompt, so they are left out, like tool messages. `param` names the request field in
    errors (`input` for /v1/responses)."""
    said: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        if message.role not in ROLES:
            raise ApiError(
                400,
                "invalid_value",
                f"Invalid value for '{param}[{index}].role': expected one of {', '.join(ROLES)}.",
                field=f"{param}[{index}].role",
            )
        if message.role not in ("user", "assistant"):
            continue
        text = _text(message.content, index, param=param)
        if said and said[-1][0] == message.role:
            said[-1] = (message.role, f"{said[-1][1]}\n\n{text}")
        else:
            said.append((message.role, text))
    if not said or said[-1][0] != "user":
        raise ApiError(
            400,
            "invalid_value",
            "The last message must be a user message: it holds the question.",
            field=param,
        )
    question = said.pop()[1]
    turns: list[Turn] = []
    asked: str | None = None
    for role, text in said:
        if role == "user":
            asked = text
        elif asked is not None:
            turns.append(Turn(question=asked, answer=text))
            asked = None
    return turns, question


def _text(content: str | list[ContentPart] | None, index: int, *, param: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if part.type not in ("text", "input_text", "output_text"):
            raise ApiError(
                400,
                "invalid_value",
                f"Only text content is supported; {param}[{index}] has a {part.type!r} part.",
                field=f"{param}[{index}].content",
            )
        texts.append(part.text or "")
    return "\n".join(texts)


@router.post("/chat/completions")
async def chat_completions(request: HttpRequest) -> Any:
    token = request_token(request)
    # Types, ranges, what Docent cannot honour and the history's size, before anything else.
    payload = openai_request(request, schema=ChatCompletionIn, endpoint="chat.completions")
    if payload.stream_options is not None and not payload.stream:
        raise ApiError(
            400,
            "invalid_value",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            field="stream_options",
        )
    history, question = conversation_from(payload.messages)
    corpus = await sync_to_async(corpus_for_model)(token, payload.model)

    def make_events() -> Iterator[AskEvent]:
        return services.api_ask(
            token=token,
            corpus=corpus,
            question=question,
            interface=ApiInterface.OPENAI,
            history=history,
        )

    events = aiter(iterate_in_thread(make_events))
    try:
        first = await anext(events)
    except Exception as exc:
        error = api_error_from(exc)
        if error.status == 422:  # the question was refused: it came from the last message
            error.field = "messages"
        raise error from exc
    assert isinstance(first, AskStarted)
    completion = _Completion(
        id=f"chatcmpl-docent{first.question.pk}",
        model=corpus.slug,
        conversation_id=first.conversation.pk,
    )
    response: HttpResponse | StreamingHttpResponse
    if payload.stream:
        include_usage = bool(payload.stream_options and payload.stream_options.include_usage)
        response = StreamingHttpResponse(
            completion.chunks(events, include_usage=include_usage),
            content_type="text/event-stream; charset=utf-8",
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
    else:
        final = await last_event(first, events)
        if isinstance(final, AskFailed):
            raise _failure(final)
        if not isinstance(final, AskCompleted):
            raise _stopped()
        response = JsonResponse(completion.whole(final.message))
    response["X-Docent-Conversation-Id"] = str(completion.conversation_id)
    return response


class _Completion:
    def __init__(self, *, id: str, model: str, conversation_id: int) -> None:
        self.id = id
        self.model = model
        self.conversation_id = conversation_id
        self.created = int(time.time())

    def whole(self, message: Message) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": message.content
                        + sources_text(message.citations, grounded=message.grounded),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(message),
            # No system_fingerprint: the spec says a string, and Docent has no such thing.
            "service_tier": "default",
            "citations": message.citations,
            # Docent's extensions (the SDKs keep unknown fields): False = not found.
            "grounded": message.grounded,
        }

    async def chunks(self, events: AsyncIterator[AskEvent], *, include_usage: bool) -> Any:
        base = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
        }

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
            payload = {**base, "choices": choices, **extra}
            if include_usage:
                payload.setdefault("usage", None)
            return _data(payload)

        def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

        # Stored answers are stripped: hold whitespace back at both ends so that the streamed
        # text adds up to the same content as a non-streamed completion.
        started = False
        held = ""
        try:
            yield chunk([choice({"role": "assistant", "content": "", "refusal": None})])
            async for event in events:
                if isinstance(event, TextDelta):
                    text = held + event.text
                    if not started:
                        text = text.lstrip()
                    body = text.rstrip()
                    held = text[len(body) :]
                    if body:
                        started = True
                        yield chunk([choice({"content": body})])
                elif isinstance(event, AskFailed):
                    yield _data(openai_error_body(_failure(event)))
                    return
                elif isinstance(event, AskStopped):
                    yield _data(openai_error_body(_stopped()))
                    return
                elif isinstance(event, AskCompleted):
                    message = event.message
                    sources = sources_text(message.citations, grounded=message.grounded)
                    if sources:
                        yield chunk([choice({"content": sources})])
                    yield chunk(
                        [choice({}, "stop")],
                        citations=message.citations,
                        grounded=message.grounded,
                    )
                    if include_usage:
                        yield chunk([], usage=_usage(message))
                    yield "data: [DONE]\n\n"
                    return
        except Exception:
            logger.exception("conversation %s: the completion stream failed", self.conversation_id)
            error = ApiError(500, "internal", INTERNAL_MESSAGE, retryable=True)
            yield _data(openai_error_body(error))
        finally:
            await aclose(events)


def _failure(event: AskFailed) -> ApiError:
    return ApiError(
        503 if event.retryable else 500,
        event.code,
        event.message.error,
        retryable=event.retryable,
    )


def _stopped() -> ApiError:
    # Someone pressed Stop on this answer in the web UI (the conversation is theirs too);
    # /v1/responses answers the same.
    return ApiError(409, "cancelled", "The answer was stopped before it ended.", retryable=True)


def _data(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _usage(message: Message) -> dict[str, int]:
    return {
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "total_tokens": message.prompt_tokens + message.completion_tokens,
    }


def sources_text(citations: Sequence[dict[str, Any]], *, grounded: bool = True) -> str:
    """``\\n\\nSources:\\n[1] handbook.pdf, p. 3`` for the answer text; "" without citations.
    Passages shown with a "not found" answer are headed "Possibly related" instead."""
    lines = []
    for citation in citations:
        where = ""
        page, page_end = citation.get("page"), citation.get("page_end")
        if isinstance(page, int):
            where = (
                f", pp. {page}\u2013{page_end}"
                if isinstance(page_end, int) and page_end > page
                else f", p. {page}"
            )
        lines.append(f"[{citation.get('number')}] {citation.get('document') or 'document'}{where}")
    heading = "Sources" if grounded else "Possibly related"
    return f"\n\n{heading}:\n" + "\n".join(lines) if lines else ""

"""/v1/responses: the Responses API over corpora, on the Chat Completions answering path.

`model` is a corpus the token may query; the question is the last user message of `input`,
earlier user/assistant items are history (as chat completions' messages are). `instructions`,
system and developer items are echoed and kept, not obeyed: Docent answers from its documents
with its own prompt. Citations are `file_citation` annotations that name the Docent document
and page. Every response is a turn of a Docent conversation of the token's user (visible in the
web UI); `store: false` only makes the response itself unretrievable by id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from api import responses_services as services
from api.auth import request_token
from api.errors import ApiError, api_error_from
from api.openai_compat import responses_wire as wire
from api.openai_compat.completions import ChatMessage, _failure, conversation_from
from api.openai_compat.conversations import conversation_by_id
from api.openai_compat.corpora import corpus_for_model
from api.openai_compat.items import MessageItem, items_from
from api.openai_compat.params import openai_request
from api.openai_compat.responses_stream import ResponseStream
from api.rest.schemas import Text
from api.streams import last_event
from chat.services import AskCompleted, AskFailed
from chat.streaming import iterate_in_thread

router = Router()


class ConversationRef(Schema):
    id: str


class ResponseIn(Schema):
    model: Text = Field(max_length=200)
    input: str | list[dict[str, Any]] | None = None
    instructions: str | list[Any] | None = None
    stream: bool | None = False
    stream_options: dict[str, Any] | None = None
    store: bool | None = True
    previous_response_id: str | None = Field(None, max_length=200)
    conversation: str | ConversationRef | None = None
    metadata: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    include: list[str] | None = None
    truncation: str | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    top_logprobs: int | None = None
    background: bool | None = None


def _refuse_unsupported(payload: ResponseIn) -> None:
    """What `openai_request` cannot tell from one parameter alone. (It refuses tools other than
    file_search, JSON output, background runs and the like with a 400 naming them.)"""
    if payload.stream_options is not None and not payload.stream:
        raise ApiError(
            400,
            "invalid_value",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            field="stream_options",
        )
    if payload.previous_response_id and payload.conversation is not None:
        raise ApiError(
            400,
            "mutually_exclusive",
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
        )


def _question(items: list[MessageItem]) -> tuple[list[Any], str]:
    messages = [ChatMessage(role=item.role, content=item.text) for item in items]
    if not messages:
        raise ApiError(
            400,
            "missing_required_parameter",
            "Missing required parameter: 'input'. It holds the question.",
            field="input",
        )
    return conversation_from(messages, param="input")


@router.post("/responses")
async def response_create(request: HttpRequest) -> Any:
    token = request_token(request)
    payload = openai_request(request, schema=ResponseIn, endpoint="responses")
    _refuse_unsupported(payload)
    metadata = services.metadata_clean(payload.metadata)
    items = items_from(payload.input, param="input")
    sent_turns, question = _question(items)
    corpus = await sync_to_async(corpus_for_model)(token, payload.model)
    site = request.build_absolute_uri("/").rstrip("/")
    body = payload.dict(exclude_unset=True)
    body["metadata"] = metadata
    if isinstance(payload.conversation, ConversationRef):
        conversation_ref: str | None = payload.conversation.id
    else:
        conversation_ref = payload.conversation
    envelope = wire.envelope_from(body, model=corpus.slug)

    def plan() -> services.ResponsePlan:
        previous = (
            services.response_for(
                token=token, public_id=payload.previous_response_id, param="previous_response_id"
            )
            if payload.previous_response_id
            else None
        )
        conversation = (
            conversation_by_id(token, conversation_ref, param="conversation")
            if conversation_ref is not None
            else None
        )
        return services.response_plan(
            token=token, corpus=corpus, previous=previous, conversation=conversation
        )

    where = await sync_to_async(plan)()

    def make_events() -> Iterator[services.ResponseEvent]:
        return services.response_ask(
            token=token,
            corpus=corpus,
            question=question,
            plan=where,
            sent_turns=sent_turns,
            instruction_items=[item for item in items if item.is_instruction],
            input_items=[item.wire for item in items],
            envelope=envelope,
            site=site,
        )

    events = aiter(iterate_in_thread(make_events))
    try:
        first = await anext(events)
    except Exception as exc:
        error = api_error_from(exc)
        if error.status == 422:  # the question was refused: it came from the last input item
            error.field = "input"
        raise error from exc
    assert isinstance(first, services.ResponseStarted)
    response = first.response
    reply: HttpResponse | StreamingHttpResponse
    if payload.stream:
        reply = StreamingHttpResponse(
            ResponseStream(
                response,
                obfuscation=(payload.stream_options or {}).get("include_obfuscation") is not False,
            ).events(events),
            content_type="text/event-stream; charset=utf-8",
        )
        reply["Cache-Control"] = "no-cache"
        reply["X-Accel-Buffering"] = "no"
    else:
        final = await last_event(first, events)  # type: ignore[arg-type]
        if isinstance(final, AskFailed):
            raise _failure(final)
        if not isinstance(final, AskCompleted):
            raise ApiError(
                409, "cancelled", "The answer was stopped before it ended.", retryable=True
            )
        reply = JsonResponse(wire.response_object(response))
    reply["X-Docent-Conversation-Id"] = str(first.started.conversation.pk)
    return reply


@router.get("/responses/{response_id}")
def response_retrieve(request: HttpRequest, response_id: str) -> dict[str, Any]:
    response = services.response_for(token=request_token(request), public_id=response_id)
    return wire.response_object(response)


@router.delete("/responses/{response_id}")
def response_delete(request: HttpRequest, response_id: str) -> dict[str, Any]:
    response = services.response_for(token=request_token(request), public_id=response_id)
    services.response_delete(response=response)
    return {"id": response_id, "object": "response", "deleted": True}


@router.get("/responses/{response_id}/input_items")
def response_input_items(
    request: HttpRequest,
    response_id: str,
    page: Query[wire.PageQuery],
) -> dict[str, Any]:
    """The items the client sent with the response (not the earlier turns it continued)."""
    response = services.response_for(token=request_token(request), public_id=response_id)
    return wire.list_page(
        response.input_items, limit=page.limit, order=page.order, after=page.after
    )

"""/v1/threads, their messages, runs and run steps (Assistants API v2).

A thread is a Docent conversation of the token's user (shown in the web UI); a run answers the
user messages added since the previous answer from the thread's corpus with the corpus's
strategy, as /v1/chat/completions does, and writes the answer with 【n:m†file】 markers and
file_citation annotations. A run executes while its create request is open: the response (or,
with "stream": true, the event stream) ends with the run completed or failed, and polling it
afterwards finds the same state."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Router

from api.assistants import services
from api.assistants.citations import MarkerStream
from api.assistants.models import (
    Assistant,
    AssistantThread,
    RunStatus,
    ThreadMessage,
    ThreadRun,
    public_id,
)
from api.auth import request_token
from api.errors import INTERNAL_MESSAGE, ApiError, api_error_from
from api.models import ApiToken
from api.openai_compat.assistants import (
    assistant_for,
    bad_request,
    corpus_for_vector_store,
    deleted,
    field,
    json_body,
    metadata_field,
    not_found,
    page,
    required,
    response_format_field,
    store_ids,
    tool_resources_field,
    tools_field,
)
from api.openai_compat.errors import openai_error_body
from api.scopes import Permission
from chat.models import Conversation
from chat.strategies.base import CitationFound, TextDelta
from chat.streaming import iterate_in_thread
from documents.models import Corpus

logger = logging.getLogger(__name__)

router = Router()


# Registered first: /threads/runs must not be taken for the thread "runs".
@router.post("/threads/runs")
async def thread_create_and_run(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    return await _thread_create_and_run(request)


RUN_TTL_SECONDS = 600
RESULTS_INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"


def _ts(value: Any) -> int | None:
    return int(value.timestamp()) if value is not None else None


# --- threads --------------------------------------------------------------------------------------


def thread_wire(thread: AssistantThread) -> dict[str, Any]:
    return {
        "id": thread.public_id,
        "object": "thread",
        "created_at": _ts(thread.created_at),
        "metadata": thread.metadata,
        "tool_resources": thread.tool_resources,
    }


def thread_for(token: ApiToken, thread_id: str) -> AssistantThread:
    """The token user's thread; one whose corpus the token cannot see does not exist."""
    thread = (
        AssistantThread.objects.filter(user=token.user, public_id=thread_id)
        .select_related("conversation__corpus")
        .first()
    )
    if thread is None:
        raise not_found(f"No thread found with id '{thread_id}'.")
    visible = thread.conversation_id is None or (
        Conversation.objects.for_user(token.user)
        .filter(pk=thread.conversation_id, corpus__in=token.visible_corpora())
        .exists()
    )
    if not visible:
        raise not_found(f"No thread found with id '{thread_id}'.")
    return thread


def _new_messages(body: dict[str, Any], key: str) -> list[services.NewMessage]:
    specs = field(body, key, list, [])
    return [_new_message(spec, f"{key}[{index}]") for index, spec in enumerate(specs)]


def _new_message(spec: Any, param: str | None) -> services.NewMessage:
    def name(key: str) -> str:
        return f"{param}.{key}" if param else key

    if not isinstance(spec, dict):
        raise bad_request(f"Invalid type for '{param}': expected an object.", param)
    role = required(spec, "role", str, param=name("role"))
    if role not in ("user", "assistant"):
        raise bad_request(
            f"Invalid value: '{role}'. Supported values are: 'user' and 'assistant'.", name("role")
        )
    content = spec.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text":
                raise bad_request(
                    f"Docent reads text only: '{name('content')}[{index}]' is a {kind!r} part "
                    "(images are not supported).",
                    f"{name('content')}[{index}].type",
                    "unsupported_content",
                )
            value = part.get("text")
            texts.append(value.get("value", "") if isinstance(value, dict) else str(value or ""))
        text = "\n".join(texts)
    else:
        raise bad_request(
            f"Missing required parameter: '{name('content')}'.",
            name("content"),
            "missing_required_parameter",
        )
    if not text.strip():
        raise bad_request(f"Invalid '{name('content')}': the message is empty.", name("content"))
    attachments = field(spec, "attachments", list, [], param=name("attachments"))
    if attachments:
        raise bad_request(
            "Attachments are not supported: add files to the vector store (the corpus) with "
            "POST /v1/vector_stores/{vector_store_id}/files instead.",
            name("attachments"),
            "unsupported_parameter",
        )
    return services.NewMessage(
        role=role, content=text, attachments=[], metadata=metadata_field(spec) or {}
    )


def _thread_create(token: ApiToken, body: dict[str, Any]) -> AssistantThread:
    resources = tool_resources_field(token, body)
    messages = _new_messages(body, "messages")
    try:
        return services.thread_create(
            token=token,
            corpus=resources[1] if resources else None,
            tool_resources=resources[0] if resources else {},
            metadata=metadata_field(body) or {},
            messages=messages,
        )
    except ValidationError as exc:
        raise api_error_from(exc) from exc


@router.post("/threads")
def thread_create(request: HttpRequest) -> dict[str, Any]:
    token = request_token(request)
    return thread_wire(_thread_create(token, json_body(request)))


@router.get("/threads/{thread_id}")
def thread_retrieve(request: HttpRequest, thread_id: str) -> dict[str, Any]:
    return thread_wire(thread_for(request_token(request), thread_id))


@router.post("/threads/{thread_id}")
def thread_update(request: HttpRequest, thread_id: str) -> dict[str, Any]:
    token = request_token(request)
    thread = thread_for(token, thread_id)
    body = json_body(request)
    resources = tool_resources_field(token, body)
    corpus = resources[1] if resources else None
    if corpus and thread.conversation and corpus.pk != thread.conversation.corpus_id:
        raise bad_request(
            "A thread answers from one corpus: its vector store cannot be changed once it "
            "has a conversation. Start a new thread.",
            "tool_resources.file_search.vector_store_ids",
        )
    return thread_wire(
        services.thread_update(
            thread=thread,
            metadata=metadata_field(body),
            tool_resources=resources[0] if resources else None,
        )
    )


@router.delete("/threads/{thread_id}")
def thread_delete(request: HttpRequest, thread_id: str) -> dict[str, Any]:
    thread = thread_for(request_token(request), thread_id)
    services.thread_delete(thread=thread)
    return deleted(thread_id, "thread.deleted")


# --- messages -------------------------------------------------------------------------------------


def message_wire(message: ThreadMessage, thread: AssistantThread) -> dict[str, Any]:
    created = _ts(message.created_at)
    return {
        "id": message.public_id,
        "object": "thread.message",
        "created_at": created,
        "assistant_id": message.assistant_public_id or None,
        "thread_id": thread.public_id,
        "run_id": message.run.public_id if message.run_id and message.run else None,
        "status": "completed",
        "incomplete_details": None,
        "incomplete_at": None,
        "completed_at": created,
        "role": message.role,
        "content": [
            {"type": "text", "text": {"value": message.content, "annotations": message.annotations}}
        ],
        "attachments": message.attachments,
        "metadata": message.metadata,
    }


def _message_for(thread: AssistantThread, message_id: str) -> ThreadMessage:
    message = (
        ThreadMessage.objects.filter(thread=thread, public_id=message_id)
        .select_related("run")
        .first()
    )
    if message is None:
        raise not_found(f"No message found with id '{message_id}'.")
    return message


@router.post("/threads/{thread_id}/messages")
def message_create(request: HttpRequest, thread_id: str) -> dict[str, Any]:
    thread = thread_for(request_token(request), thread_id)
    spec = _new_message(json_body(request), None)
    return message_wire(services.thread_message_add(thread=thread, message=spec), thread)


@router.get("/threads/{thread_id}/messages")
def message_list(request: HttpRequest, thread_id: str) -> dict[str, Any]:
    thread = thread_for(request_token(request), thread_id)
    rows = ThreadMessage.objects.filter(thread=thread).select_related("run")
    run_id = request.GET.get("run_id")
    if run_id:
        rows = rows.filter(run__public_id=run_id)
    return page(request, rows, lambda message: message_wire(message, thread))


@router.get("/threads/{thread_id}/messages/{message_id}")
def message_retrieve(request: HttpRequest, thread_id: str, message_id: str) -> dict[str, Any]:
    thread = thread_for(request_token(request), thread_id)
    return message_wire(_message_for(thread, message_id), thread)


@router.post("/threads/{thread_id}/messages/{message_id}")
def message_update(request: HttpRequest, thread_id: str, message_id: str) -> dict[str, Any]:
    thread = thread_for(request_token(request), thread_id)
    message = _message_for(thread, message_id)
    metadata = metadata_field(json_body(request)) or {}
    return message_wire(services.thread_message_update(message=message, metadata=metadata), thread)


@router.delete("/threads/{thread_id}/messages/{message_id}")
def message_delete(request: HttpRequest, thread_id: str, message_id: str) -> dict[str, Any]:
    thread = thread_for(request_token(request), thread_id)
    _message_for(thread, message_id)
    raise bad_request(
        "Docent keeps every turn of a conversation: messages cannot be deleted one by one. "
        "Delete the thread (DELETE /v1/threads/{thread_id}) instead.",
        "message_id",
        "unsupported_operation",
    )


# --- runs -----------------------------------------------------------------------------------------


def run_wire(run: ThreadRun) -> dict[str, Any]:
    options = run.option_values
    terminal = run.status not in (RunStatus.QUEUED, RunStatus.IN_PROGRESS)
    usage = None
    if run.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.INCOMPLETE):
        usage = {
            "prompt_tokens": run.prompt_tokens,
            "completion_tokens": run.completion_tokens,
            "total_tokens": run.prompt_tokens + run.completion_tokens,
            "prompt_token_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
    created = _ts(run.created_at) or 0
    return {
        "id": run.public_id,
        "object": "thread.run",
        "created_at": created,
        "assistant_id": run.assistant_public_id,
        "thread_id": run.thread.public_id,
        "status": run.status,
        "started_at": _ts(run.started_at),
        "expires_at": None if terminal else created + RUN_TTL_SECONDS,
        "cancelled_at": _ts(run.failed_at) if run.status == RunStatus.CANCELLED else None,
        "failed_at": _ts(run.failed_at) if run.status == RunStatus.FAILED else None,
        "completed_at": _ts(run.completed_at),
        "required_action": None,
        "last_error": run.last_error,
        "model": run.model,
        "instructions": run.instructions,
        "tools": run.tools,
        "tool_resources": {},
        "metadata": run.metadata,
        "temperature": options.get("temperature", 1.0),
        "top_p": options.get("top_p", 1.0),
        "reasoning_effort": None,
        "max_completion_tokens": options.get("max_completion_tokens"),
        "max_prompt_tokens": options.get("max_prompt_tokens"),
        "truncation_strategy": options.get(
            "truncation_strategy", {"type": "auto", "last_messages": None}
        ),
        "incomplete_details": None,
        "usage": usage,
        "response_format": options.get("response_format", "auto"),
        "tool_choice": options.get("tool_choice", "auto"),
        "parallel_tool_calls": options.get("parallel_tool_calls", True),
    }


def _run_for(thread: AssistantThread, run_id: str) -> ThreadRun:
    run = (
        ThreadRun.objects.filter(thread=thread, public_id=run_id)
        .select_related("thread", "answer")
        .first()
    )
    if run is None:
        raise not_found(f"No run found with id '{run_id}'.")
    return run


def _run_fields(assistant: Assistant, body: dict[str, Any]) -> dict[str, Any]:
    tools = tools_field(body)
    instructions = field(body, "instructions", str, assistant.instructions)
    extra = field(body, "additional_instructions", str)
    if extra:
        instructions = f"{instructions}\n{extra}" if instructions else extra
    options: dict[str, Any] = {
        "temperature": field(body, "temperature", float, assistant.temperature),
        "top_p": field(body, "top_p", float, assistant.top_p),
        "max_completion_tokens": field(body, "max_completion_tokens", int),
        "max_prompt_tokens": field(body, "max_prompt_tokens", int),
        "parallel_tool_calls": field(body, "parallel_tool_calls", bool, True),
        "response_format": (
            response_format_field(body) if "response_format" in body else assistant.response_format
        ),
    }
    truncation = field(body, "truncation_strategy", dict)
    if truncation is not None:
        options["truncation_strategy"] = truncation
    choice = body.get("tool_choice")
    if choice is not None:
        kind = choice.get("type") if isinstance(choice, dict) else choice
        if kind not in ("auto", "required", "file_search"):
            raise bad_request(
                "Docent always searches the documents: tool_choice must be 'auto', 'required' "
                "or {'type': 'file_search'}.",
                "tool_choice",
                "unsupported_parameter",
            )
        options["tool_choice"] = choice
    return {
        "model": field(body, "model", str, assistant.model)[:256],
        "instructions": instructions,
        "tools": assistant.tools if tools is None else tools,
        "metadata": metadata_field(body) or {},
        "options": options,
    }


def _run_corpus(token: ApiToken, thread: AssistantThread, assistant: Assistant) -> Corpus:
    """The thread's corpus, else the assistant's vector store, else its model as a corpus."""
    if thread.conversation is not None:
        corpus = thread.conversation.corpus
        theirs = store_ids(assistant.tool_resources)
        if theirs and theirs[0] not in (f"vs_{corpus.slug}", corpus.slug):
            raise bad_request(
                f"This thread answers from the vector store 'vs_{corpus.slug}' but the "
                f"assistant's is '{theirs[0]}': Docent answers a thread from one corpus.",
                "assistant_id",
            )
        return corpus
    for ids in (store_ids(thread.tool_resources), store_ids(assistant.tool_resources)):
        if ids:
            return corpus_for_vector_store(token, ids[0])
    named = token.corpora(Permission.QUERY).filter(slug=assistant.model).first()
    if named is None:
        raise bad_request(
            "Neither the thread nor the assistant has a vector store to search: set "
            "tool_resources.file_search.vector_store_ids to a Docent corpus "
            "(GET /v1/vector_stores lists them).",
            "tool_resources",
        )
    return named


def _run_prepare(
    token: ApiToken, thread: AssistantThread, body: dict[str, Any]
) -> tuple[ThreadRun, Corpus]:
    assistant = assistant_for(token, required(body, "assistant_id", str))
    fields = _run_fields(assistant, body)
    corpus = _run_corpus(token, thread, assistant)
    messages = _new_messages(body, "additional_messages")
    try:
        run = services.run_create(
            thread=thread, assistant=assistant, fields=fields, additional_messages=messages
        )
    except ValidationError as exc:
        raise api_error_from(exc) from exc
    run.thread = thread
    return run, corpus


async def _thread_create_and_run(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    token = request_token(request)
    body = json_body(request)
    stream = bool(field(body, "stream", bool, False))
    thread_body = field(body, "thread", dict, {})

    def prepare() -> tuple[ThreadRun, Corpus]:
        required(body, "assistant_id", str)
        if "tool_resources" in body and "tool_resources" not in thread_body:
            thread_body["tool_resources"] = body["tool_resources"]
        thread = _thread_create(token, thread_body)
        return _run_prepare(token, thread, body)

    run, corpus = await sync_to_async(prepare)()
    return await _execute(request, token, run, corpus, stream=stream, new_thread=True)


@router.post("/threads/{thread_id}/runs")
async def run_create(request: HttpRequest, thread_id: str) -> HttpResponse | StreamingHttpResponse:
    token = request_token(request)
    body = json_body(request)
    stream = bool(field(body, "stream", bool, False))

    def prepare() -> tuple[ThreadRun, Corpus]:
        return _run_prepare(token, thread_for(token, thread_id), body)

    run, corpus = await sync_to_async(prepare)()
    return await _execute(request, token, run, corpus, stream=stream, new_thread=False)


@router.get("/threads/{thread_id}/runs")
def run_list(request: HttpRequest, thread_id: str) -> dict[str, Any]:
    thread = thread_for(request_token(request), thread_id)
    rows = ThreadRun.objects.filter(thread=thread).select_related("thread")
    return page(request, rows, run_wire)


@router.get("/threads/{thread_id}/runs/{run_id}")
def run_retrieve(request: HttpRequest, thread_id: str, run_id: str) -> dict[str, Any]:
    return run_wire(_run_for(thread_for(request_token(request), thread_id), run_id))


@router.post("/threads/{thread_id}/runs/{run_id}")
def run_update(request: HttpRequest, thread_id: str, run_id: str) -> dict[str, Any]:
    run = _run_for(thread_for(request_token(request), thread_id), run_id)
    run.metadata = metadata_field(json_body(request)) or {}
    run.save(update_fields=["metadata"])
    return run_wire(run)


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
def run_cancel(request: HttpRequest, thread_id: str, run_id: str) -> dict[str, Any]:
    run = _run_for(thread_for(request_token(request), thread_id), run_id)
    # Runs execute inside their create request, so one seen here has already ended.
    raise bad_request(f"Cannot cancel run with status '{run.status}'.", None, "invalid_state")


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")
def run_submit_tool_outputs(request: HttpRequest, thread_id: str, run_id: str) -> dict[str, Any]:
    _run_for(thread_for(request_token(request), thread_id), run_id)
    raise bad_request(
        "Docent runs never require action (there are no function tools): there are no tool "
        "outputs to submit.",
        None,
        "invalid_state",
    )


# --- run steps ------------------------------------------------------------------------------------


def steps_wire(run: ThreadRun, include: list[str]) -> list[dict[str, Any]]:
    """The file_search step (the passages the answer cites) and the message-creation step."""
    if run.status != RunStatus.COMPLETED or run.answer is None:
        return []
    base: dict[str, Any] = {
        "object": "thread.run.step",
        "created_at": _ts(run.started_at),
        "run_id": run.public_id,
        "assistant_id": run.assistant_public_id,
        "thread_id": run.thread.public_id,
        "status": "completed",
        "cancelled_at": None,
        "completed_at": _ts(run.completed_at),
        "expires_at": None,
        "failed_at": None,
        "last_error": None,
    }
    suffix = run.public_id.removeprefix("run_")
    steps = []
    citations = run.answer.citations
    if any(tool.get("type") == "file_search" for tool in run.tools) or not run.tools:
        file_ids = services.file_ids_for_documents(
            [int(c["document_id"]) for c in citations if c.get("document_id")]
        )
        results = []
        for citation in citations:
            result: dict[str, Any] = {
                "file_id": file_ids.get(int(citation["document_id"]), ""),
                "file_name": citation.get("document") or "",
                "score": 1.0,
                "attributes": {"page": citation.get("page")} if citation.get("page") else {},
            }
            if RESULTS_INCLUDE in include:
                result["content"] = [{"type": "text", "text": citation.get("quote") or ""}]
            results.append(result)
        steps.append(
            {
                **base,
                "id": f"step_{suffix}fs",
                "type": "tool_calls",
                "step_details": {
                    "type": "tool_calls",
                    "tool_calls": [
                        {
                            "id": f"call_{suffix}",
                            "type": "file_search",
                            "file_search": {
                                "ranking_options": dict(DEFAULT_STEP_RANKING),
                                "results": results,
                            },
                        }
                    ],
                },
                "usage": {
                    "prompt_tokens": run.prompt_tokens,
                    "completion_tokens": 0,
                    "total_tokens": run.prompt_tokens,
                },
            }
        )
    message = ThreadMessage.objects.filter(run=run, role="assistant").first()
    steps.append(
        {
            **base,
            "id": f"step_{suffix}mc",
            "type": "message_creation",
            "step_details": {
                "type": "message_creation",
                "message_creation": {"message_id": message.public_id if message else ""},
            },
            "usage": {
                "prompt_tokens": run.prompt_tokens,
                "completion_tokens": run.completion_tokens,
                "total_tokens": run.prompt_tokens + run.completion_tokens,
            },
        }
    )
    return steps


DEFAULT_STEP_RANKING = {"ranker": "default_2024_08_21", "score_threshold": 0.0}


def _include(request: HttpRequest) -> list[str]:
    return request.GET.getlist("include[]") + request.GET.getlist("include")


@router.get("/threads/{thread_id}/runs/{run_id}/steps")
def step_list(request: HttpRequest, thread_id: str, run_id: str) -> dict[str, Any]:
    run = _run_for(thread_for(request_token(request), thread_id), run_id)
    steps = steps_wire(run, _include(request))
    if request.GET.get("order", "desc") == "desc":
        steps.reverse()
    return {
        "object": "list",
        "data": steps,
        "first_id": steps[0]["id"] if steps else None,
        "last_id": steps[-1]["id"] if steps else None,
        "has_more": False,
    }


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
def step_retrieve(request: HttpRequest, thread_id: str, run_id: str, step_id: str) -> Any:
    run = _run_for(thread_for(request_token(request), thread_id), run_id)
    for step in steps_wire(run, _include(request)):
        if step["id"] == step_id:
            return step
    raise not_found(f"No run step found with id '{step_id}'.")


# --- executing a run ------------------------------------------------------------------------------


async def _execute(
    request: HttpRequest,
    token: ApiToken,
    run: ThreadRun,
    corpus: Corpus,
    *,
    stream: bool,
    new_thread: bool,
) -> HttpResponse | StreamingHttpResponse:
    message_id = public_id("msg_")

    def make_events() -> Iterator[services.RunEvent]:
        return services.run_execute(
            token=token, run=run, corpus=corpus, message_public_id=message_id
        )

    events = aiter(iterate_in_thread(make_events))
    try:
        first = await anext(events)
    except ValidationError as exc:
        raise api_error_from(exc) from exc
    if not stream:
        try:
            async for _event in events:
                pass
        finally:
            await aclose(events)
        return JsonResponse(await sync_to_async(_fresh_run_wire)(run.pk))
    queued = {**run_wire(run), "status": "queued", "started_at": None}
    response = StreamingHttpResponse(
        _run_stream(run, first, events, queued, message_id, new_thread=new_thread),
        content_type="text/event-stream; charset=utf-8",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def aclose(events: AsyncIterator[Any]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


def _fresh_run_wire(pk: int) -> dict[str, Any]:
    return run_wire(ThreadRun.objects.select_related("thread").get(pk=pk))


def _sse(event: str, data: Any) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"event: {event}\ndata: {payload}\n\n"


class _MessageDeltas:
    """thread.message.delta events whose values add up to the stored answer: markers are
    rewritten as they complete, whitespace at both ends is held back as the answer is
    stored stripped."""

    def __init__(self, *, message_id: str, message_index: int) -> None:
        self.message_id = message_id
        self.file_ids: dict[int, str] = {}
        self.markers = MarkerStream(message_index=message_index, file_id=self._file_id)
        self.sent = ""
        self.held = ""
        self.count = 0

    def _file_id(self, pk: int) -> str:
        return self.file_ids.get(pk) or services.document_file_id(pk)

    def text(self, text: str) -> str | None:
        if not self.markers.text and not self.held:
            text = text.lstrip()
        if not text:
            return None
        done = len(self.markers.annotations)
        out, annotations = self.markers.feed(text)
        return self._emit(out, [(done + i, a) for i, a in enumerate(annotations)])

    def cite(self, citation: dict[str, Any], file_ids: dict[int, str]) -> str | None:
        self.file_ids.update(file_ids)
        self.markers.cite(citation)
        return self.text("") if self.markers.text or self.held else None

    def rest(self, message: ThreadMessage) -> str | None:
        """The part of the stored answer not yet streamed (normally at most a marker)."""
        value = message.content
        if not value.startswith(self.sent):
            logger.warning("message %s: the streamed text differs from the stored answer",
                           message.pk)  # fmt: skip
            return None
        if len(value) == len(self.sent):
            return None
        start = len(self.sent)
        annotations = [
            (i, a) for i, a in enumerate(message.annotations) if a["start_index"] >= start
        ]
        self.held = ""
        return self._emit(value[start:], annotations)

    def _emit(self, out: str, annotations: list[tuple[int, dict[str, Any]]]) -> str | None:
        pending = self.held + out
        body = pending.rstrip()
        self.held = pending[len(body) :]
        if not body and not annotations:
            return None
        self.sent += body
        part: dict[str, Any] = {"value": body}
        if self.count == 0 or annotations:
            part["annotations"] = [
                {"index": i, **a, "file_citation": {**a["file_citation"], "quote": ""}}
                for i, a in annotations
            ]
        self.count += 1
        delta = {"content": [{"index": 0, "type": "text", "text": part}]}
        return _sse(
            "thread.message.delta",
            {"id": self.message_id, "object": "thread.message.delta", "delta": delta},
        )


async def _run_stream(
    run: ThreadRun,
    first: Any,
    events: AsyncIterator[Any],
    queued: dict[str, Any],
    message_id: str,
    *,
    new_thread: bool,
) -> AsyncIterator[str]:
    """The event sequence OpenAI sent for a file_search run (see the recorded
    AssistantsTests__FileSearchStreamingWorks): run created, queued, in progress; the
    file_search step; the message created, its deltas, completed; the run completed; done."""
    now = int(timezone.now().timestamp())
    thread_id = queued["thread_id"]
    suffix = queued["id"].removeprefix("run_")
    step = {
        "object": "thread.run.step",
        "created_at": now,
        "run_id": queued["id"],
        "assistant_id": queued["assistant_id"],
        "thread_id": thread_id,
        "status": "in_progress",
        "cancelled_at": None,
        "completed_at": None,
        "expires_at": queued["expires_at"],
        "failed_at": None,
        "last_error": None,
        "usage": None,
    }
    creation = {
        **step,
        "id": f"step_{suffix}mc",
        "type": "message_creation",
        "step_details": {
            "type": "message_creation",
            "message_creation": {"message_id": message_id},
        },
    }
    message = {
        "id": message_id,
        "object": "thread.message",
        "created_at": now,
        "assistant_id": queued["assistant_id"],
        "thread_id": thread_id,
        "run_id": queued["id"],
        "status": "in_progress",
        "incomplete_details": None,
        "incomplete_at": None,
        "completed_at": None,
        "role": "assistant",
        "content": [],
        "attachments": [],
        "metadata": {},
    }
    try:
        deltas = _MessageDeltas(
            message_id=message_id,
            message_index=await sync_to_async(services.run_message_index)(run),
        )
        if new_thread:
            yield _sse("thread.created", await sync_to_async(thread_wire)(run.thread))
        yield _sse("thread.run.created", queued)
        yield _sse("thread.run.queued", queued)
        yield _sse("thread.run.in_progress", {**queued, "status": "in_progress", "started_at": now})
        tools = queued["tools"]
        if not tools or any(tool.get("type") == "file_search" for tool in tools):
            for name, data in _search_step_events(step, suffix, now):
                yield _sse(name, data)
        yield _sse("thread.run.step.created", creation)
        yield _sse("thread.run.step.in_progress", creation)
        yield _sse("thread.message.created", message)
        yield _sse("thread.message.in_progress", message)
        event: Any = first
        while event is not None:
            out: str | None = None
            if isinstance(event, TextDelta):
                out = deltas.text(event.text)
            elif isinstance(event, CitationFound):
                ids = await sync_to_async(services.file_ids_for_documents)(
                    [event.citation.document_id]
                )
                out = deltas.cite(event.citation.as_dict(), ids)
            elif isinstance(event, services.RunAnswered):
                final = await sync_to_async(_fresh_run_wire)(run.pk)
                if event.message is not None:
                    out = deltas.rest(event.message)
                    if out:
                        yield out
                    stored = await sync_to_async(message_wire)(event.message, run.thread)
                    yield _sse("thread.message.completed", stored)
                    done = {
                        **creation,
                        "status": "completed",
                        "completed_at": final["completed_at"],
                    }
                    yield _sse("thread.run.step.completed", {**done, "usage": final["usage"]})
                    yield _sse("thread.run.completed", final)
                elif final["status"] == RunStatus.CANCELLED:
                    yield _sse("thread.run.cancelled", final)
                else:
                    failed = {**creation, "status": "failed", "failed_at": final["failed_at"],
                              "last_error": final["last_error"]}  # fmt: skip
                    yield _sse("thread.run.step.failed", failed)
                    yield _sse("thread.run.failed", final)
                yield _sse("done", "[DONE]")
                return
            if out:
                yield out
            event = await anext(events, None)
        logger.warning("run %s: the answer ended without an outcome", run.pk)
    except Exception:
        logger.exception("run %s: the stream failed", run.pk)
        error = ApiError(500, "internal", INTERNAL_MESSAGE, retryable=True)
        yield _sse("error", openai_error_body(error)["error"])
    finally:
        await aclose(events)


def _search_step_events(
    step: dict[str, Any], suffix: str, now: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The file_search step as a stream shows it. Docent searches inside the answering
    strategy, so the results are listed by GET .../steps once the run is over."""
    search = {
        **step,
        "id": f"step_{suffix}fs",
        "type": "tool_calls",
        "step_details": {"type": "tool_calls", "tool_calls": []},
    }
    call = {
        "id": f"call_{suffix}",
        "type": "file_search",
        "file_search": {"ranking_options": dict(DEFAULT_STEP_RANKING), "results": []},
    }
    yield "thread.run.step.created", search
    yield "thread.run.step.in_progress", search
    yield (
        "thread.run.step.delta",
        {
            "id": search["id"],
            "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": [{"index": 0, **call}]}},
        },
    )
    yield (
        "thread.run.step.completed",
        {
            **search,
            "status": "completed",
            "completed_at": now,
            "step_details": {"type": "tool_calls", "tool_calls": [call]},
        },
    )

"""Wire shapes of the Responses and Conversations APIs, built from Docent's rows.

Shapes follow OpenAI's wire (../shared/openai/recordings/ResponsesTests__*.json and the
openapi.yaml schemas `Response`, `ConversationResource`, `OutputMessage`, `FileCitationBody`),
key order included. Ids name Docent rows: `conv_docent12` is conversation 12 (the one at
/c/<corpus>/conversations/12/ in the web UI), `msg_docent34` its message 34; response ids are
random (`resp_` and 48 hex digits) because a response is not a row the web UI shows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from django.urls import reverse
from ninja import Schema
from pydantic import Field

from api.assistants.services import document_file_id, file_ids_for_documents
from api.openai_compat.completions import sources_text

if TYPE_CHECKING:
    from api.models import ApiResponse
    from chat.models import Conversation, Message

CONVERSATION_PREFIX = "conv_docent"
MESSAGE_PREFIX = "msg_docent"
_CONVERSATION_ID = re.compile(rf"{CONVERSATION_PREFIX}([1-9][0-9]{{0,17}})")
_MESSAGE_ID = re.compile(rf"{MESSAGE_PREFIX}([1-9][0-9]{{0,17}})")
_MARKER = re.compile(r"\[(\d+)\]")
# A Docent answer's status as an item's (a failed or stopped answer is incomplete).
_ITEM_STATUS = {"complete": "completed", "streaming": "in_progress"}


def conversation_id(conversation: Conversation | int) -> str:
    pk = conversation if isinstance(conversation, int) else conversation.pk
    return f"{CONVERSATION_PREFIX}{pk}"


def conversation_pk(public_id: str) -> int | None:
    match = _CONVERSATION_ID.fullmatch(public_id)
    return int(match.group(1)) if match else None


def message_id(message: Message) -> str:
    return f"{MESSAGE_PREFIX}{message.pk}"


def message_pk(public_id: str) -> int | None:
    match = _MESSAGE_ID.fullmatch(public_id)
    return int(match.group(1)) if match else None


def conversation_object(conversation: Conversation, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": conversation_id(conversation),
        "object": "conversation",
        "created_at": int(conversation.created_at.timestamp()),
        "metadata": metadata,
    }


# --- items ----------------------------------------------------------------------------------------


def answer_text(message: Message) -> str:
    """The answer as every OpenAI-compatible endpoint shows it: the [n] markers and a
    "Sources:" list, so that clients which drop annotations still show where it came from."""
    return message.content + sources_text(message.citations, grounded=message.grounded)


def annotations_for(
    text: str, citations: Sequence[dict[str, Any]], site: str = ""
) -> list[dict[str, Any]]:
    file_ids = file_ids_for_documents(
        [int(citation["document_id"]) for citation in citations if citation.get("document_id")]
    )
    """One `file_citation` per [n] marker in the answer, at the index just after it (where
    OpenAI puts its own), naming the Docent document; Docent's extra fields say the page, the
    passage quoted and where to read it."""
    by_number = {citation.get("number"): citation for citation in citations}
    annotations = []
    cited: set[int] = set()
    for match in _MARKER.finditer(text):
        number = int(match.group(1))
        citation = by_number.get(number)
        if citation is None:
            continue
        cited.add(number)
        annotations.append(_annotation(citation, match.end(), site, file_ids))
    # A citation the answer lists without a marker (an extractive answer's sources) still
    # counts: it is anchored at the end of the text.
    for citation in citations:
        if citation.get("number") not in cited:
            annotations.append(_annotation(citation, len(text), site, file_ids))
    return annotations


def _annotation(
    citation: dict[str, Any], index: int, site: str, file_ids: dict[int, str]
) -> dict[str, Any]:
    document_id = int(citation["document_id"])
    annotation: dict[str, Any] = {
        "type": "file_citation",
        # The /v1/files upload the document came from, else file-docent-<document id>: the
        # ids /v1/files and the Assistants endpoints answer for.
        "file_id": file_ids.get(document_id) or document_file_id(document_id),
        "filename": citation.get("document") or "document",
        "index": index,
        # Docent's extensions (the SDKs keep unknown fields).
        "number": citation.get("number"),
        "document_id": citation.get("document_id"),
        "page": citation.get("page"),
        "page_end": citation.get("page_end"),
        "quote": citation.get("quote", ""),
    }
    slug = citation.get("corpus")
    if site and slug:
        path = reverse(
            "documents:viewer", kwargs={"slug": slug, "document_id": citation["document_id"]}
        )
        page = citation.get("page")
        annotation["url"] = f"{site}{path}" + (f"?page={page}" if isinstance(page, int) else "")
    return annotation


def output_text_part(text: str, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "output_text", "annotations": annotations or [], "logprobs": [], "text": text}


def message_item(message: Message, *, site: str = "", corpus_slug: str = "") -> dict[str, Any]:
    """A stored Docent message as a conversation item (`OutputMessage` for answers,
    `Message` with input_text for questions)."""
    if message.role == "user":
        return {
            "id": message_id(message),
            "type": "message",
            "status": "completed",
            "content": [{"type": "input_text", "text": message.content}],
            "role": "user",
        }
    text = answer_text(message)
    citations = [{**citation, "corpus": corpus_slug} for citation in message.citations]
    return {
        "id": message_id(message),
        "type": "message",
        "status": _ITEM_STATUS.get(message.status, "incomplete"),
        "content": [output_text_part(text, annotations_for(text, citations, site))],
        "role": "assistant",
    }


def usage_object(message: Message) -> dict[str, Any]:
    return {
        "input_tokens": message.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": message.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": message.prompt_tokens + message.completion_tokens,
    }


class PageQuery(Schema):
    """The cursor parameters of OpenAI's lists."""

    limit: int = Field(20, ge=1, le=100)
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None


def list_page(
    items: Sequence[dict[str, Any]], *, limit: int, order: str, after: str | None
) -> dict[str, Any]:
    """A cursor page over `items` given oldest first, as every OpenAI list pages."""
    ordered = list(items) if order == "asc" else list(reversed(items))
    if after is not None:
        ids = [item["id"] for item in ordered]
        ordered = ordered[ids.index(after) + 1 :] if after in ids else []
    page = ordered[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "has_more": len(ordered) > limit,
        "last_id": page[-1]["id"] if page else None,
    }


# --- the response object --------------------------------------------------------------------------


def response_object(
    response: ApiResponse, *, status: str | None = None, output: list[Any] | None = None
) -> dict[str, Any]:
    """The wire `Response` of a row; `status`/`output` override while it is being streamed."""
    status = status or response.status
    envelope = dict(response.envelope)
    completed = response.completed_at if status == "completed" else None
    head = {
        "id": response.public_id,
        "object": "response",
        "created_at": int(response.created_at.timestamp()),
        "status": status,
        "background": False,
        "billing": {"payer": "developer"},
        "completed_at": int(completed.timestamp()) if completed else None,
        "conversation": (
            {"id": conversation_id(response.conversation_id)} if response.in_conversation else None
        ),
        "error": response.error if status == "failed" else None,
    }
    if output is None:
        output = response.output if status in ("completed", "incomplete") else []
    return {
        **head,
        **envelope,
        "output": output,
        "previous_response_id": response.previous.public_id if response.previous else None,
        "usage": response.usage if status == "completed" else None,
    }


def envelope_from(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """The request-echoing fields of a Response, in the wire's key order."""
    text = {"format": {"type": "text"}, "verbosity": "medium", **(body.get("text") or {})}
    reasoning = body.get("reasoning") or {}

    def number(name: str, default: float) -> float:
        value = body.get(name)
        return float(default if value is None else value)

    return {
        "frequency_penalty": 0.0,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": model,
        "moderation": None,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "presence_penalty": 0.0,
        "previous_response_id": None,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_retention": body.get("prompt_cache_retention") or "in_memory",
        "reasoning": {
            "context": None,
            "effort": reasoning.get("effort"),
            "summary": reasoning.get("summary"),
        },
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": body.get("store", True) is not False,
        "temperature": number("temperature", 1.0),
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
        "tools": body.get("tools") or [],
        "top_logprobs": body.get("top_logprobs") or 0,
        "top_p": number("top_p", 1.0),
        "truncation": body.get("truncation") or "disabled",
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }

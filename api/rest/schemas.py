"""Request and response bodies of the REST API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Field, P, PathEx, Schema
from pydantic import AfterValidator

# PostgreSQL cannot store NUL characters and UTF-8 has no lone surrogates: refuse both as bad
# input instead of failing in the database.
_UNSTORABLE = {"\x00"} | {chr(c) for c in range(0xD800, 0xE000)}


def _storable(value: str) -> str:
    if any(char in _UNSTORABLE for char in value):
        raise ValueError("Text may not contain NUL characters or unpaired surrogates.")
    return value


Text = Annotated[str, AfterValidator(_storable)]
SLUG_PATTERN = r"^[-a-zA-Z0-9_]{1,100}$"
MAX_ID = 2**63 - 1

Slug = PathEx[str, P(pattern=SLUG_PATTERN, description="The corpus slug.")]
Id = PathEx[int, P(ge=1, le=MAX_ID)]


class ErrorDetail(Schema):
    code: str = Field(description="Stable, machine-readable: not_found, forbidden, invalid, ...")
    message: str = Field(description="A sentence for people, saying what to do.")
    field: str | None = Field(description="The request field at fault, if one is.")
    retryable: bool = Field(description="Whether the same request may succeed later.")
    details: list[dict[str, Any]] | None = Field(
        None, description="Every problem, when there are several: [{field, message}]."
    )
    conversation_id: int | None = Field(
        None, description="When an answer failed: the conversation it is stored in."
    )
    message_id: int | None = Field(None, description="When an answer failed: the stored answer.")


class ErrorOut(Schema):
    error: ErrorDetail


class CorpusOut(Schema):
    slug: str
    name: str
    description: str
    index_backend: str
    chat_strategy: str = Field(description="The strategy new conversations use.")
    permissions: list[str] = Field(description="What this token may do in the corpus.")
    documents_ready: int
    documents_total: int
    created_at: dt.datetime


class DocumentOut(Schema):
    id: int
    corpus: str = Field(description="The corpus slug.")
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    status: str = Field(description="queued, processing, ready or failed.")
    stage: str = Field(description="What processing is doing now (parsing, embedding, ...).")
    progress: float = Field(description="0..1 within the current stage.")
    error: str = Field(description="Why the document failed, in plain words.")
    failure_code: str = Field(
        description="The kind of failure when the file could not be read (unsupported_format, "
        "encrypted, corrupt, empty, no_text, too_large, ocr_unavailable); blank otherwise."
    )
    retryable: bool = Field(
        description="False for a failed document that would fail the same way again (its "
        "type, encryption or damage): upload a corrected file instead."
    )
    warning: str
    pages: int | None
    chunks: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class DocumentPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[DocumentOut]


class UploadResult(Schema):
    filename: str
    result: Literal["created", "duplicate", "rejected"]
    reason: str | None = Field(description="Why the file was rejected or counted a duplicate.")
    code: str | None = Field(
        description="Why it was rejected, as a code: unsupported_format, encrypted, corrupt, "
        "too_large (read from the file) or invalid (empty, over the size limit)."
    )
    document: DocumentOut | None


class UploadOut(Schema):
    created: int
    duplicates: int
    rejected: int
    results: list[UploadResult]


class SearchHitOut(Schema):
    document: str
    document_id: int
    page: int | None
    page_end: int | None
    chunk_id: int | None
    char_start: int | None
    char_end: int | None
    score: float
    text: str


class SearchOut(Schema):
    query: str
    mode: str
    k: int
    results: list[SearchHitOut]


class AskIn(Schema):
    question: Text = Field(max_length=100_000)
    conversation_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Continue this conversation (yours, in this corpus)."
    )
    strategy: Text | None = Field(
        None, max_length=50, description="An answer strategy; default: the corpus's."
    )
    stream: bool = Field(
        False,
        description="Answer as Server-Sent Events (also when the request accepts "
        "text/event-stream).",
    )


class CitationOut(Schema):
    number: int = Field(description="The [n] marker in the answer.")
    document_id: int
    document: str
    page: int | None = None
    page_end: int | None = None
    quote: str = ""
    chunk_id: int | None = None
    char_start: int | None = None
    char_end: int | None = None


class UsageOut(Schema):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    model: str


class AnswerOut(Schema):
    message_id: int
    conversation_id: int
    answer: str
    citations: list[CitationOut]
    strategy: str
    status: str = Field(description="complete, error or stopped.")
    notice: str
    grounded: bool = Field(
        description="False when Docent found that the documents do not support an answer: the "
        "answer then says so, and its citations are only possibly related passages."
    )
    usage: UsageOut
    latency_ms: int | None
    first_token_ms: int | None


class ConversationOut(Schema):
    id: int
    corpus: str
    title: str
    strategy: str
    created_at: dt.datetime
    updated_at: dt.datetime


class MessageOut(Schema):
    id: int
    role: str = Field(description="user (a question) or assistant (an answer).")
    content: str
    citations: list[CitationOut]
    status: str
    error: str
    notice: str
    grounded: bool = Field(
        description="False when Docent found that the documents do not support an answer: the "
        "answer then says so, and its citations are only possibly related passages."
    )
    strategy: str
    usage: UsageOut
    created_at: dt.datetime


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]


class ConversationPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[ConversationOut]

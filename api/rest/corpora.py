"""Corpora, search and asking."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Query, Router, Schema

from api import services
from api.access import conversation_for, corpus_for
from api.auth import request_token
from api.errors import INTERNAL_MESSAGE, ApiError, not_found
from api.models import ApiInterface, ApiToken
from api.rest.schemas import (
    AnswerOut,
    AskIn,
    CorpusOut,
    ErrorOut,
    SearchOut,
    Slug,
    Text,
)
from api.scopes import Permission
from api.streams import aclose, last_event
from chat.models import Conversation
from chat.services import AskCompleted, AskEvent, AskFailed, corpus_strategy
from chat.streaming import ask_event_payload, iterate_in_thread, message_payload, sse
from documents.models import Corpus
from documents.retrieval import retrieve

logger = logging.getLogger(__name__)

router = Router(tags=["corpora"])

ERRORS = frozenset({400, 401, 403, 404, 422, 429})


@router.get("/corpora", response={200: list[CorpusOut], ERRORS: ErrorOut}, summary="List corpora")
def corpus_list(request: HttpRequest) -> list[dict[str, Any]]:
    """The corpora this token may query, with what it may do in each."""
    token = request_token(request)
    allowed = _allowed(token)
    return [
        _corpus_out(corpus, allowed)
        for corpus in token.corpora(Permission.QUERY).with_document_counts()
    ]


@router.get("/corpora/{slug}", response={200: CorpusOut, ERRORS: ErrorOut}, summary="Get a corpus")
def corpus_detail(request: HttpRequest, slug: Slug) -> dict[str, Any]:
    token = request_token(request)
    corpus = corpus_for(token, slug, Permission.QUERY)
    counted = Corpus.objects.filter(pk=corpus.pk).with_document_counts().get()
    return _corpus_out(counted, _allowed(token))


class SearchQuery(Schema):
    q: Text = Field(min_length=1, max_length=2000, description="What to look for.")
    k: int = Field(10, ge=1, le=100, description="How many passages.")
    mode: Literal["hybrid", "vector", "fulltext"] = "hybrid"


@router.get(
    "/corpora/{slug}/search",
    response={200: SearchOut, ERRORS: ErrorOut, 503: ErrorOut},
    summary="Search",
)
def search(request: HttpRequest, slug: Slug, params: Query[SearchQuery]) -> dict[str, Any]:
    """The passages that best match `q` (needs the query permission). Full-text mode is only
    available for locally indexed corpora."""
    corpus = corpus_for(request_token(request), slug, Permission.QUERY)
    hits = retrieve(corpus=corpus, query=params.q, k=params.k, mode=params.mode).hits
    return {
        "query": params.q,
        "mode": params.mode,
        "k": params.k,
        "results": [hit.as_dict() for hit in hits],
    }


_SSE_DOC = {
    "responses": {
        200: {
            "description": "The answer, or with `stream` (or `Accept: text/event-stream`) the "
            "events `start`, `delta`, `citation`, then `done` or `error`, exactly as the web "
            "UI receives them.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
}


@router.post(
    "/corpora/{slug}/ask",
    response={200: AnswerOut, ERRORS: ErrorOut, 409: ErrorOut, 502: ErrorOut, 503: ErrorOut},
    summary="Ask a question",
    openapi_extra=_SSE_DOC,
)
async def ask(request: HttpRequest, slug: Slug, payload: AskIn) -> Any:
    """Ask the corpus (needs the query permission), in a new conversation or in
    `conversation_id`. A failed answer is a 503 when asking again later may work, else a 502;
    both name the stored conversation and message."""
    token = request_token(request)
    corpus, conversation = await sync_to_async(_ask_target)(token, slug, payload.conversation_id)

    def make_events() -> Iterator[AskEvent]:
        return services.api_ask(
            token=token,
            corpus=corpus,
            question=payload.question,
            interface=ApiInterface.REST,
            conversation=conversation,
            strategy=payload.strategy,
        )

    events = aiter(iterate_in_thread(make_events))
    # The first event (or a refused question) arrives before anything is sent, so bad input
    # is a plain 422 in both modes.
    first = await anext(events)
    if payload.stream or "text/event-stream" in request.headers.get("Accept", ""):
        response = StreamingHttpResponse(
            _event_stream(first, events, corpus_id=corpus.pk), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    final = await last_event(first, events)
    if isinstance(final, AskFailed):
        message = final.message
        raise ApiError(
            503 if final.retryable else 502,
            final.code,
            message.error,
            retryable=final.retryable,
            extra={"conversation_id": message.conversation_id, "message_id": message.pk},
        )
    if not isinstance(final, AskCompleted):
        # Stopped in the web UI (the conversation is the token owner's there too).
        message = final.message  # type: ignore[attr-defined]
        raise ApiError(
            409,
            "cancelled",
            "The answer was stopped before it ended.",
            retryable=True,
            extra={"conversation_id": message.conversation_id, "message_id": message.pk},
        )
    return message_payload(final.message)


def _ask_target(
    token: ApiToken, slug: str, conversation_id: int | None
) -> tuple[Corpus, Conversation | None]:
    corpus = corpus_for(token, slug, Permission.QUERY)
    if conversation_id is None:
        return corpus, None
    conversation = conversation_for(token, conversation_id)
    if conversation.corpus_id != corpus.pk:
        raise not_found(f"You have no conversation {conversation_id} in “{corpus.slug}”.")
    return corpus, conversation


async def _event_stream(
    first: AskEvent, events: AsyncIterator[AskEvent], *, corpus_id: int
) -> AsyncIterator[str]:
    try:
        yield sse(*ask_event_payload(first))
        async for event in events:
            yield sse(*ask_event_payload(event))
    except ValidationError as error:
        message = next(iter(error.messages), "The question was refused.")
        yield sse("error", {"message": message, "retryable": False, "code": "invalid"})
    except Exception:
        logger.exception("corpus %s: the API answer stream failed", corpus_id)
        yield sse("error", {"message": INTERNAL_MESSAGE, "retryable": True, "code": "internal"})
    finally:
        await aclose(events)


def _allowed(token: ApiToken) -> dict[Permission, set[int]]:
    return {p: set(token.corpora(p).values_list("pk", flat=True)) for p in Permission}


def _corpus_out(corpus: Any, allowed: dict[Permission, set[int]]) -> dict[str, Any]:
    return {
        "slug": corpus.slug,
        "name": corpus.name,
        "description": corpus.description,
        "index_backend": corpus.index_backend,
        "chat_strategy": corpus_strategy(corpus),
        "permissions": [p.value for p in Permission if corpus.pk in allowed[p]],
        "documents_ready": corpus.documents_ready,
        "documents_total": corpus.documents_total,
        "created_at": corpus.created_at,
    }

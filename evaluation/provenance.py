"""Provenance: recording what each answer was made from, reading it back, exporting, purging.

`provenance_record` is the one call chat/services.py makes when it stores an answer: completed,
stopped or failed (then with what had been retrieved and cited before it ended).
Who asked through which interface is read from the conversation (an API conversation knows
its token) or from `asked_via`, which a caller in the same thread sets (evaluation runs).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import logging
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from evaluation.models import AnswerProvenance, Interface, PassageRole, ProvenancePassage

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chat.models import Message
    from chat.strategies.base import Citation
    from documents.backends.base import SearchHit

logger = logging.getLogger(__name__)

_interface: ContextVar[str | None] = ContextVar("provenance_interface", default=None)
# Strategy options that are never copied into provenance.
_SECRET_OPTIONS = {"api_key", "client", "base_url"}


@contextlib.contextmanager
def asked_via(interface: str) -> Iterator[None]:
    """Answers stored inside this block were asked through `interface` (same thread only)."""
    reset = _interface.set(interface)
    try:
        yield
    finally:
        _interface.reset(reset)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def provenance_record(
    *,
    message: Message,
    question: str,
    passages: Sequence[SearchHit],
    citations: Sequence[Citation],
    retrieval: dict[str, Any],
) -> AnswerProvenance:
    """Store what an answer was given (`passages`) and quoted (`citations`): a completed one
    in its transaction, a stopped or failed one with what had been retrieved and cited by
    then (the message's status says which)."""
    conversation = message.conversation
    corpus = conversation.corpus
    origin = getattr(conversation, "api_origin", None)
    token = origin.token if origin is not None else None
    interface = _interface.get() or (
        origin.interface
        if origin is not None
        else Interface.WEB
        if conversation.user_id
        else Interface.CLI
    )
    record = AnswerProvenance.objects.create(
        message=message,
        corpus=corpus,
        user_id=conversation.user_id,
        interface=interface,
        token=token,
        token_label=str(token)[:150] if token is not None else "",
        question=question,
        strategy=message.strategy,
        model=message.model,
        index_backend=corpus.index_backend,
        index_version=corpus.index_version,
        settings=_settings_of(message.strategy, corpus, retrieval),
        grounded=message.grounded,
    )
    versions = _chunk_versions([hit.chunk_id for hit in passages] + [c.chunk_id for c in citations])
    # Links only to rows that still exist (a re-index or a deletion may have removed them while
    # answering); the ids themselves are kept either way.
    documents = _existing_documents(
        [hit.document_id for hit in passages] + [c.document_id for c in citations]
    )

    def passage(
        role: str, position: int, *, chunk_id: int | None, document_id: int | None, **fields: Any
    ) -> ProvenancePassage:
        return ProvenancePassage(
            provenance=record,
            role=role,
            position=position,
            chunk_ref=chunk_id,
            chunk_id=chunk_id if (chunk_id or 0) in versions else None,
            document_ref=document_id,
            document_id=document_id if document_id in documents else None,
            index_version=versions.get(chunk_id or 0, corpus.index_version),
            text_sha256=text_sha256(fields["text"]),
            **fields,
        )

    rows = [
        passage(
            PassageRole.CONTEXT,
            position,
            chunk_id=hit.chunk_id,
            document_id=hit.document_id,
            document_name=hit.document[:255],
            page_start=hit.page_start,
            page_end=hit.page_end,
            text=hit.text,
            score=hit.score,
            similarity=hit.similarity,
        )
        for position, hit in enumerate(passages, start=1)
    ]
    rows += [
        passage(
            PassageRole.CITED,
            position,
            citation_number=citation.number,
            chunk_id=citation.chunk_id,
            document_id=citation.document_id,
            document_name=citation.document[:255],
            page_start=citation.page,
            page_end=citation.page_end,
            text=citation.quote,
        )
        for position, citation in enumerate(citations, start=1)
    ]
    ProvenancePassage.objects.bulk_create(rows)
    return record


def _chunk_versions(chunk_ids: Iterable[int | None]) -> dict[int, int]:
    from documents.models import Chunk

    ids = {pk for pk in chunk_ids if pk}
    return dict(Chunk.objects.filter(pk__in=ids).values_list("pk", "index_version"))


def _existing_documents(document_ids: Iterable[int | None]) -> set[int]:
    from documents.models import Document

    ids = {pk for pk in document_ids if pk}
    return set(Document.objects.filter(pk__in=ids).values_list("pk", flat=True))


def _settings_of(strategy: str, corpus: Any, retrieval: dict[str, Any]) -> dict[str, Any]:
    options = settings.CHAT_STRATEGIES.get(strategy, {}).get("OPTIONS", {})
    return {
        "strategy_options": {
            key: value
            for key, value in options.items()
            if key not in _SECRET_OPTIONS and isinstance(value, str | int | float | bool | None)
        },
        "embedding_model": corpus.embedding_model,
        "chunk_size_tokens": corpus.chunk_size_tokens,
        "chunk_overlap_tokens": corpus.chunk_overlap_tokens,
        "retrieval": _jsonable(retrieval),
        "retrieval_stages": [
            stage["BACKEND"].rsplit(".", 1)[-1] for stage in settings.RETRIEVAL_STAGES
        ],
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --- reading and exporting ------------------------------------------------------------------


@dataclass(frozen=True)
class ProvenanceFilter:
    corpus: str = ""  # slug
    user: str = ""  # username
    token: int | None = None  # ApiToken id
    interface: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def provenance_filter(queryset: Any, filters: ProvenanceFilter) -> Any:
    if filters.interface and filters.interface not in Interface.values:
        raise ValidationError(
            {"interface": f"Unknown interface; choose one of: {', '.join(Interface.values)}."}
        )
    if filters.since and filters.until and filters.since > filters.until:
        raise ValidationError({"since": "The start of the period is after its end."})
    if filters.corpus:
        queryset = queryset.filter(corpus__slug=filters.corpus)
    if filters.user:
        queryset = queryset.filter(user__username=filters.user)
    if filters.token is not None:
        queryset = queryset.filter(token_id=filters.token)
    if filters.interface:
        queryset = queryset.filter(interface=filters.interface)
    if filters.since:
        queryset = queryset.filter(created_at__gte=filters.since)
    if filters.until:
        queryset = queryset.filter(created_at__lt=filters.until)
    return queryset


def provenance_as_dict(record: AnswerProvenance) -> dict[str, Any]:
    return {
        "id": record.pk,
        "message_id": record.message_id,
        "conversation_id": record.message.conversation_id,
        "created_at": record.created_at.isoformat(),
        "corpus": record.corpus.slug,
        "user": record.user.get_username() if record.user else None,
        "interface": record.interface,
        "token_id": record.token_id,
        "token": record.token_label or None,
        "question": record.question,
        "answer": record.message.content,
        "status": record.message.status,
        "grounded": record.grounded,
        "strategy": record.strategy,
        "model": record.model,
        "index_backend": record.index_backend,
        "index_version": record.index_version,
        "settings": record.settings,
        "passages": [
            {
                "role": passage.role,
                "position": passage.position,
                "citation_number": passage.citation_number,
                "chunk_id": passage.chunk_ref,
                "chunk_exists": passage.chunk_id is not None,
                "document_id": passage.document_ref,
                "document": passage.document_name,
                "page_start": passage.page_start,
                "page_end": passage.page_end,
                "index_version": passage.index_version,
                "score": passage.score,
                "similarity": passage.similarity,
                "text_sha256": passage.text_sha256,
                "text": passage.text,
            }
            for passage in record.passages.all()
        ],
    }


def _export_queryset(queryset: Any) -> Any:
    return queryset.select_related("message", "corpus", "user").prefetch_related("passages")


def provenance_export_jsonl(queryset: Any) -> Iterator[str]:
    """One JSON object per answer and line."""
    for record in _export_queryset(queryset).iterator(chunk_size=200):
        yield json.dumps(provenance_as_dict(record), ensure_ascii=False) + "\n"


CSV_COLUMNS = [
    "provenance_id",
    "message_id",
    "created_at",
    "corpus",
    "user",
    "interface",
    "token",
    "question",
    "strategy",
    "model",
    "index_version",
    "grounded",
    "role",
    "position",
    "citation_number",
    "chunk_id",
    "document",
    "page_start",
    "page_end",
    "passage_index_version",
    "score",
    "text_sha256",
    "text",
]


def provenance_export_csv(queryset: Any) -> Iterator[str]:
    """One row per passage shown (an answer with no passages has one row with empty passage
    columns), so a spreadsheet can filter by document or page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return value

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for record in _export_queryset(queryset).iterator(chunk_size=200):
        data = provenance_as_dict(record)
        head = [
            data["id"],
            data["message_id"],
            data["created_at"],
            data["corpus"],
            data["user"] or "",
            data["interface"],
            data["token"] or "",
            data["question"],
            data["strategy"],
            data["model"],
            data["index_version"],
            data["grounded"],
        ]
        for passage in data["passages"] or [None]:
            if passage is None:
                writer.writerow(head + [""] * (len(CSV_COLUMNS) - len(head)))
                continue
            writer.writerow(
                [
                    *head,
                    passage["role"],
                    passage["position"],
                    passage["citation_number"] or "",
                    passage["chunk_id"] or "",
                    passage["document"],
                    passage["page_start"] or "",
                    passage["page_end"] or "",
                    passage["index_version"] or "",
                    "" if passage["score"] is None else passage["score"],
                    passage["text_sha256"],
                    passage["text"],
                ]
            )
        yield flush()


def provenance_export_recorded(
    *, request: Any, fmt: str, filters: dict[str, Any], corpus_id: int | None = None
) -> None:
    """Every export of provenance is in the audit log, with the filter used."""
    from audit.models import Action
    from audit.services import audit_record

    audit_record(
        action=Action.EXPORTED,
        target_type="provenance",
        target_label=f"answer provenance ({fmt})",
        corpus_id=corpus_id,
        details={"format": fmt, "filters": _jsonable(filters)},
        request=request,
    )


# --- retention ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeOutcome:
    provenance: int
    conversations: int


def provenance_purge(*, days: int | None = None, now: dt.datetime | None = None) -> PurgeOutcome:
    """Delete provenance records and conversations older than `days` (default
    PROVENANCE_RETENTION_DAYS; 0 keeps everything). A conversation counts from its last turn."""
    from chat.models import Conversation

    days = settings.PROVENANCE_RETENTION_DAYS if days is None else days
    if days <= 0:
        logger.info("retention: off (PROVENANCE_RETENTION_DAYS=0), nothing deleted")
        return PurgeOutcome(provenance=0, conversations=0)
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    with transaction.atomic():
        expired = AnswerProvenance.objects.filter(created_at__lt=cutoff)
        provenance = expired.count()
        expired.delete()
        old = Conversation.objects.filter(updated_at__lt=cutoff)
        conversations = old.count()
        old.delete()
    logger.info(
        "retention: deleted %s provenance rows and %s conversations older than %s days (before %s)",
        provenance,
        conversations,
        days,
        cutoff.isoformat(),
    )
    return PurgeOutcome(provenance=provenance, conversations=conversations)

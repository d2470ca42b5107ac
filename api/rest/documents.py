"""Documents: upload (several files at once), list, status, delete."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import File, Query, Router, Schema, Status, UploadedFile
from pydantic import Field

from api.access import corpus_for, document_for
from api.auth import request_token
from api.errors import ApiError
from api.rest.schemas import DocumentOut, DocumentPage, ErrorOut, Id, Slug, UploadOut
from api.scopes import Permission
from documents import services
from documents.models import Corpus, Document, DocumentStatus
from documents.parsing import ParseErrorCode

router = Router(tags=["documents"])

ERRORS = frozenset({400, 401, 403, 404, 413, 415, 422, 429})
# Only well-formed media types are kept from a client's multipart headers.
_MEDIA_TYPE = re.compile(r"^[\w.+-]{1,60}/[\w.+-]{1,80}$")


@router.post(
    "/corpora/{slug}/documents",
    response={201: UploadOut, 200: UploadOut, ERRORS: ErrorOut},
    summary="Upload documents",
)
def document_upload(
    request: HttpRequest, slug: Slug, files: File[list[UploadedFile]]
) -> Status[dict[str, Any]]:
    """Upload one or more files as multipart/form-data parts named `files` (needs the ingest
    permission). Each file gets its own result: created (queued for processing), duplicate
    (the corpus already has this content) or rejected (with the reason and its `code`, e.g.
    `unsupported_format` for a type no parser reads; nothing is stored). 201 when at least
    one document was created, 200 when the rest were duplicates; when every file is rejected,
    an error: 415 `unsupported_file` if they all are of unsupported types, else 422 `invalid`,
    with the per-file `results` in the error object. Poll GET /api/documents/{id} until the
    status is ready or failed."""
    token = request_token(request)
    corpus = corpus_for(token, slug, Permission.INGEST)
    results = [_upload_one(corpus, upload, token.user) for upload in files]
    counts = {kind: sum(1 for r in results if r["result"] == kind) for kind in _KINDS}
    if results and counts["rejected"] == len(results):
        unsupported = all(r["code"] == ParseErrorCode.UNSUPPORTED for r in results)
        raise ApiError(
            415 if unsupported else 422,
            "unsupported_file" if unsupported else "invalid",
            results[0]["reason"],
            field="files",
            details=[{"field": "files", "message": r["reason"]} for r in results],
            extra={"results": results},
        )
    body = {
        "created": counts["created"],
        "duplicates": counts["duplicate"],
        "rejected": counts["rejected"],
        "results": results,
    }
    return Status(201 if counts["created"] else 200, body)


_KINDS = ("created", "duplicate", "rejected")


def _upload_one(corpus: Corpus, upload: UploadedFile, user: Any) -> dict[str, Any]:
    filename = upload.name or "upload"
    content_type = upload.content_type or ""
    try:
        outcome = services.document_upload(
            corpus=corpus,
            file=upload,
            filename=filename,
            uploaded_by=user,
            content_type=content_type if _MEDIA_TYPE.match(content_type) else "",
        )
    except ValidationError as error:
        return {
            "filename": filename,
            "result": "rejected",
            "reason": " ".join(error.messages),
            "code": error.reason.value if isinstance(error, services.UploadRefused) else "invalid",
            "document": None,
        }
    if outcome.duplicate:
        return {
            "filename": filename,
            "result": "duplicate",
            "reason": f"The corpus already has this content as “{outcome.document.filename}”.",
            "code": None,
            "document": document_out(outcome.document, corpus=corpus),
        }
    return {
        "filename": filename,
        "result": "created",
        "reason": None,
        "code": None,
        "document": document_out(outcome.document, corpus=corpus),
    }


class DocumentFilter(Schema):
    status: DocumentStatus | None = Field(None, description="Only documents in this status.")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000_000)


@router.get(
    "/corpora/{slug}/documents",
    response={200: DocumentPage, ERRORS: ErrorOut},
    summary="List documents",
)
def document_list(
    request: HttpRequest, slug: Slug, filters: Query[DocumentFilter]
) -> dict[str, Any]:
    """The corpus's documents, newest first (needs the query permission)."""
    corpus = corpus_for(request_token(request), slug, Permission.QUERY)
    documents = Document.objects.filter(corpus=corpus)
    if filters.status:
        documents = documents.filter(status=filters.status)
    page = documents[filters.offset : filters.offset + filters.limit]
    return {
        "count": documents.count(),
        "limit": filters.limit,
        "offset": filters.offset,
        "items": [document_out(document, corpus=corpus) for document in page],
    }


@router.get(
    "/documents/{document_id}",
    response={200: DocumentOut, ERRORS: ErrorOut},
    summary="Get a document's status",
)
def document_detail(request: HttpRequest, document_id: Id) -> dict[str, Any]:
    """Status, processing stage and progress, the failure reason, pages and chunks (needs the
    query permission)."""
    document = document_for(request_token(request), document_id, Permission.QUERY)
    return document_out(document, corpus=document.corpus)


@router.delete(
    "/documents/{document_id}",
    response={204: None, ERRORS: ErrorOut, 503: ErrorOut},
    summary="Delete a document",
)
def document_delete(request: HttpRequest, document_id: Id) -> Status[None]:
    """Delete the document and its index entries (needs the ingest permission)."""
    document = document_for(request_token(request), document_id, Permission.INGEST)
    services.document_delete(document=document)
    return Status(204, None)


def document_out(document: Document, *, corpus: Corpus) -> dict[str, Any]:
    return {
        "id": document.pk,
        "corpus": corpus.slug,
        "filename": document.filename,
        "content_type": document.content_type,
        "size_bytes": document.size_bytes,
        "sha256": document.sha256,
        "status": document.status,
        "stage": document.stage,
        "progress": document.progress,
        "error": document.error,
        "failure_code": document.failure_code,
        "retryable": document.retry_helps,
        "warning": document.warning,
        "pages": document.page_count,
        "chunks": document.chunk_count,
        "created_at": document.created_at,
        "started_at": document.started_at,
        "finished_at": document.finished_at,
    }

"""/v1/vector_stores: the corpora a token may query, as vector stores (``vs_<corpus slug>``).
Files uploaded through /v1/files are added to one (as documents, ingested as any upload is)
when the token has the ingest permission there. Vector stores cannot be created, changed or
deleted through this API: corpora are managed in Docent."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.http import HttpRequest
from ninja import Router

from api.assistants import services
from api.assistants.models import FileBatch
from api.auth import request_token
from api.errors import api_error_from
from api.models import ApiToken
from api.openai_compat.assistants import (
    bad_request,
    corpus_for_vector_store,
    deleted,
    field,
    json_body,
    not_found,
    required,
    vector_store_id,
)
from api.openai_compat.files import api_file_for
from api.scopes import Permission
from documents.models import Corpus, Document, DocumentStatus
from documents.parsing import ParseErrorCode
from documents.services import document_delete

router = Router()

_IN_PROGRESS = (DocumentStatus.QUEUED, DocumentStatus.PROCESSING)
_STATIC_CHUNKING = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
}


def _counts(documents: Any) -> dict[str, int]:
    totals = documents.aggregate(
        total=Count("id"),
        in_progress=Count("id", filter=Q(status__in=_IN_PROGRESS)),
        completed=Count("id", filter=Q(status=DocumentStatus.READY)),
        failed=Count("id", filter=Q(status=DocumentStatus.FAILED)),
    )
    return {
        "in_progress": totals["in_progress"],
        "completed": totals["completed"],
        "failed": totals["failed"],
        "cancelled": 0,
        "total": totals["total"],
    }


def store_wire(corpus: Corpus) -> dict[str, Any]:
    documents = Document.objects.filter(corpus=corpus)
    size = documents.aggregate(size=Sum("size_bytes"))["size"] or 0
    counts = _counts(documents)
    return {
        "id": vector_store_id(corpus),
        "object": "vector_store",
        "created_at": int(corpus.created_at.timestamp()),
        "name": corpus.name,
        "description": corpus.description or None,
        "usage_bytes": size,
        "file_counts": counts,
        "status": "in_progress" if counts["in_progress"] else "completed",
        "expires_after": None,
        "expires_at": None,
        "last_active_at": int(corpus.updated_at.timestamp()),
        "metadata": {"docent_corpus": corpus.slug},
    }


def _status(document: Document) -> str:
    if document.status in _IN_PROGRESS:
        return "in_progress"
    return "completed" if document.status == DocumentStatus.READY else "failed"


def store_file_wire(document: Document, file_id: str) -> dict[str, Any]:
    failed = document.status == DocumentStatus.FAILED
    return {
        "id": file_id,
        "object": "vector_store.file",
        "usage_bytes": document.size_bytes,
        "created_at": int(document.created_at.timestamp()),
        "vector_store_id": vector_store_id(document.corpus),
        "status": _status(document),
        "last_error": (
            {"code": _error_code(document), "message": document.error} if failed else None
        ),
        "chunking_strategy": _STATIC_CHUNKING,
        "attributes": {"docent_document_id": document.pk},
    }


def _error_code(document: Document) -> str:
    """OpenAI's vector-store file error codes: a file that cannot be read is never a server
    error."""
    if document.failure_code == ParseErrorCode.UNSUPPORTED:
        return "unsupported_file"
    if not document.retry_helps:
        return "invalid_file"
    return "server_error"


def _unsupported(what: str) -> Any:
    return bad_request(
        f"Vector stores are Docent corpora: they cannot be {what} through this API. Ask a "
        "Docent administrator, then use the store's id (GET /v1/vector_stores lists them).",
        None,
        "unsupported_operation",
    )


@router.get("/vector_stores")
def store_list(request: HttpRequest) -> dict[str, Any]:
    token = request_token(request)
    corpora = list(token.corpora(Permission.QUERY).order_by("-created_at", "-id"))
    ids = [vector_store_id(corpus) for corpus in corpora]
    limit = int(request.GET.get("limit", "20")) if request.GET.get("limit", "").isdigit() else 20
    if not 1 <= limit <= 100:
        raise bad_request("Invalid 'limit': expected a value between 1 and 100.", "limit")
    if request.GET.get("order") == "asc":
        corpora.reverse()
        ids.reverse()
    start = ids.index(request.GET["after"]) + 1 if request.GET.get("after") in ids else 0
    chosen = corpora[start : start + limit]
    data = [store_wire(corpus) for corpus in chosen]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + limit < len(corpora),
    }


@router.post("/vector_stores")
def store_create(request: HttpRequest) -> Any:
    raise _unsupported("created")


@router.get("/vector_stores/{store_id}")
def store_retrieve(request: HttpRequest, store_id: str) -> dict[str, Any]:
    return store_wire(corpus_for_vector_store(request_token(request), store_id))


@router.post("/vector_stores/{store_id}")
def store_update(request: HttpRequest, store_id: str) -> Any:
    corpus_for_vector_store(request_token(request), store_id)
    raise _unsupported("changed")


@router.delete("/vector_stores/{store_id}")
def store_delete(request: HttpRequest, store_id: str) -> Any:
    corpus_for_vector_store(request_token(request), store_id)
    raise _unsupported("deleted")


# --- files in a vector store ----------------------------------------------------------------------


def _document_for_file(token: ApiToken, corpus: Corpus, file_id: str) -> Document:
    document_id = services.document_id_from_file_id(file_id)
    documents = Document.objects.filter(corpus=corpus).select_related("corpus")
    if document_id is not None:
        document = documents.filter(pk=document_id).first()
    else:
        document = documents.filter(
            api_files__public_id=file_id, api_files__user=token.user
        ).first()
    if document is None:
        raise not_found(
            f"No file found with id '{file_id}' in vector store '{vector_store_id(corpus)}'."
        )
    return document


def _wire_for(document: Document) -> dict[str, Any]:
    file_id = services.file_ids_for_documents([document.pk])[document.pk]
    return store_file_wire(document, file_id)


@router.post("/vector_stores/{store_id}/files")
def store_file_create(request: HttpRequest, store_id: str) -> dict[str, Any]:
    token = request_token(request)
    corpus = corpus_for_vector_store(token, store_id, Permission.INGEST)
    api_file = api_file_for(token, required(json_body(request), "file_id", str))
    try:
        document = services.vector_store_file_add(api_file=api_file, corpus=corpus)
    except ValidationError as exc:
        raise api_error_from(exc) from exc
    return store_file_wire(document, api_file.public_id)


@router.get("/vector_stores/{store_id}/files")
def store_file_list(request: HttpRequest, store_id: str) -> dict[str, Any]:
    token = request_token(request)
    corpus = corpus_for_vector_store(token, store_id)
    documents = Document.objects.filter(corpus=corpus).select_related("corpus")
    wanted = request.GET.get("filter")
    status_filter = {
        "in_progress": Q(status__in=_IN_PROGRESS),
        "completed": Q(status=DocumentStatus.READY),
        "failed": Q(status=DocumentStatus.FAILED),
        "cancelled": Q(pk__in=[]),
    }
    if wanted:
        if wanted not in status_filter:
            raise bad_request(
                "Invalid 'filter': expected in_progress, completed, failed or cancelled.", "filter"
            )
        documents = documents.filter(status_filter[wanted])
    return _document_page(request, documents)


def _document_page(request: HttpRequest, documents: Any) -> dict[str, Any]:
    limit_text = request.GET.get("limit", "20")
    limit = int(limit_text) if limit_text.isdigit() else 0
    if not 1 <= limit <= 100:
        raise bad_request("Invalid 'limit': expected a value between 1 and 100.", "limit")
    order = request.GET.get("order", "desc")
    documents = documents.order_by("id" if order == "asc" else "-id")
    after = request.GET.get("after")
    if after:
        pk = services.document_id_from_file_id(after)
        if pk is None:
            pk = (
                Document.objects.filter(api_files__public_id=after)
                .values_list("pk", flat=True)
                .first()
            )
        if pk is not None:
            documents = (
                documents.filter(pk__gt=pk) if order == "asc" else documents.filter(pk__lt=pk)
            )
    found = list(documents[: limit + 1])
    file_ids = services.file_ids_for_documents([d.pk for d in found])
    data = [store_file_wire(d, file_ids[d.pk]) for d in found[:limit]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(found) > limit,
    }


@router.get("/vector_stores/{store_id}/files/{file_id}")
def store_file_retrieve(request: HttpRequest, store_id: str, file_id: str) -> dict[str, Any]:
    token = request_token(request)
    corpus = corpus_for_vector_store(token, store_id)
    return store_file_wire(_document_for_file(token, corpus, file_id), file_id)


@router.delete("/vector_stores/{store_id}/files/{file_id}")
def store_file_delete(request: HttpRequest, store_id: str, file_id: str) -> dict[str, Any]:
    token = request_token(request)
    corpus = corpus_for_vector_store(token, store_id, Permission.INGEST)
    document_delete(document=_document_for_file(token, corpus, file_id))
    return deleted(file_id, "vector_store.file.deleted")


# --- file batches ---------------------------------------------------------------------------------


def batch_wire(batch: FileBatch) -> dict[str, Any]:
    documents = Document.objects.filter(corpus=batch.corpus, api_files__batches=batch).distinct()
    counts = _counts(documents)
    return {
        "id": batch.public_id,
        "object": "vector_store.files_batch",
        "created_at": int(batch.created_at.timestamp()),
        "vector_store_id": vector_store_id(batch.corpus),
        "status": "in_progress" if counts["in_progress"] else "completed",
        "file_counts": counts,
    }


def _batch_for(token: ApiToken, corpus: Corpus, batch_id: str) -> FileBatch:
    batch = FileBatch.objects.filter(user=token.user, corpus=corpus, public_id=batch_id).first()
    if batch is None:
        raise not_found(f"No file batch found with id '{batch_id}'.")
    return batch


@router.post("/vector_stores/{store_id}/file_batches")
def batch_create(request: HttpRequest, store_id: str) -> dict[str, Any]:
    token = request_token(request)
    corpus = corpus_for_vector_store(token, store_id, Permission.INGEST)
    file_ids = field(json_body(request), "file_ids", list, [])
    if not file_ids or not all(isinstance(i, str) for i in file_ids):
        raise bad_request(
            "Missing required parameter: 'file_ids' (a list of file ids).", "file_ids"
        )
    if len(file_ids) > 500:
        raise bad_request("Invalid 'file_ids': at most 500 files per batch.", "file_ids")
    files = [api_file_for(token, file_id) for file_id in dict.fromkeys(file_ids)]
    try:
        batch = services.file_batch_create(token=token, corpus=corpus, files=files)
    except ValidationError as exc:
        raise api_error_from(exc) from exc
    return batch_wire(batch)


@router.get("/vector_stores/{store_id}/file_batches/{batch_id}")
def batch_retrieve(request: HttpRequest, store_id: str, batch_id: str) -> dict[str, Any]:
    token = request_token(request)
    corpus = corpus_for_vector_store(token, store_id)
    return batch_wire(_batch_for(token, corpus, batch_id))


@router.post("/vector_stores/{store_id}/file_batches/{batch_id}/cancel")
def batch_cancel(request: HttpRequest, store_id: str, batch_id: str) -> Any:
    token = request_token(request)
    _batch_for(token, corpus_for_vector_store(token, store_id), batch_id)
    raise bad_request(
        "Files already added to a corpus are ingested; delete the ones you do not want.",
        None,
        "unsupported_operation",
    )


@router.get("/vector_stores/{store_id}/file_batches/{batch_id}/files")
def batch_file_list(request: HttpRequest, store_id: str, batch_id: str) -> dict[str, Any]:
    token = request_token(request)
    corpus = corpus_for_vector_store(token, store_id)
    batch = _batch_for(token, corpus, batch_id)
    documents = (
        Document.objects.filter(corpus=corpus, api_files__batches=batch)
        .select_related("corpus")
        .distinct()
    )
    return _document_page(request, documents)

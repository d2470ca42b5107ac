"""/v1/files for Assistants-era programs: upload a file (purpose "assistants") to add it to a
vector store next; retrieve or delete it. Documents cited in answers are files too: their ids
(``file-docent-<document id>``, or the upload's id) resolve here."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import File, Form, Router, UploadedFile

from api.access import document_for
from api.assistants import services
from api.assistants.models import ApiFile
from api.auth import request_token
from api.errors import api_error_from
from api.models import ApiToken
from api.openai_compat.assistants import bad_request, deleted, not_found, page
from api.scopes import Permission
from documents.models import Document

router = Router()

PURPOSES = ("assistants", "user_data")


def file_wire(api_file: ApiFile) -> dict[str, Any]:
    return {
        "id": api_file.public_id,
        "object": "file",
        "bytes": api_file.bytes,
        "created_at": int(api_file.created_at.timestamp()),
        "expires_at": None,
        "filename": api_file.filename,
        "purpose": api_file.purpose,
        "status": "processed",
        "status_details": None,
    }


def document_file_wire(document: Document) -> dict[str, Any]:
    return {
        "id": services.document_file_id(document.pk),
        "object": "file",
        "bytes": document.size_bytes,
        "created_at": int(document.created_at.timestamp()),
        "expires_at": None,
        "filename": document.filename,
        "purpose": "assistants",
        "status": "processed",
        "status_details": None,
    }


def api_file_for(token: ApiToken, file_id: str) -> ApiFile:
    api_file = ApiFile.objects.filter(user=token.user, public_id=file_id).first()
    if api_file is None:
        raise not_found(f"No such File object: {file_id}")
    return api_file


@router.post("/files")
def file_create(
    request: HttpRequest, file: File[UploadedFile], purpose: Form[str]
) -> dict[str, Any]:
    if purpose not in PURPOSES:
        raise bad_request(
            f"Invalid value for 'purpose': Docent keeps files for file_search only; use one of "
            f"{', '.join(PURPOSES)}.",
            "purpose",
        )
    token = request_token(request)
    try:
        api_file = services.file_create(
            token=token, upload=file, filename=file.name or "upload", purpose=purpose
        )
    except ValidationError as exc:
        raise api_error_from(exc) from exc
    return file_wire(api_file)


@router.get("/files")
def file_list(request: HttpRequest) -> dict[str, Any]:
    rows = ApiFile.objects.filter(user=request_token(request).user)
    purpose = request.GET.get("purpose")
    if purpose:
        rows = rows.filter(purpose=purpose)
    return page(request, rows, file_wire)


@router.get("/files/{file_id}")
def file_retrieve(request: HttpRequest, file_id: str) -> dict[str, Any]:
    token = request_token(request)
    document_id = services.document_id_from_file_id(file_id)
    if document_id is not None:
        try:
            return document_file_wire(document_for(token, document_id, Permission.QUERY))
        except Exception as exc:
            raise not_found(f"No such File object: {file_id}") from exc
    return file_wire(api_file_for(token, file_id))


@router.get("/files/{file_id}/content")
def file_content(request: HttpRequest, file_id: str) -> dict[str, Any]:
    file_retrieve(request, file_id)
    # As OpenAI: files kept for file_search are not downloadable.
    raise bad_request("Not allowed to download files of purpose: assistants.", None)


@router.delete("/files/{file_id}")
def file_delete(request: HttpRequest, file_id: str) -> dict[str, Any]:
    token = request_token(request)
    if services.document_id_from_file_id(file_id) is not None:
        raise bad_request(
            f"{file_id} is a document of a corpus: remove it from its vector store "
            "(DELETE /v1/vector_stores/{vector_store_id}/files/{file_id}) instead.",
            None,
        )
    services.file_delete(api_file=api_file_for(token, file_id))
    return deleted(file_id, "file")

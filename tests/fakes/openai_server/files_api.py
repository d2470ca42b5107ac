"""/v1/files"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .state import StoredFile
from .wire import ApiError, JsonReply, RawReply, Request, bad_request, deleted, paginate

if TYPE_CHECKING:
    from .server import FakeOpenAIServer, Route

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")


def _file_not_found(file_id: str) -> ApiError:
    message = f"No such File object: {file_id}"
    # The Files API adds a `detail` object next to `error` (see the recordings).
    return ApiError(404, message, param="id", extra={"detail": {"message": message, "code": None}})


def _get(app: FakeOpenAIServer, file_id: str) -> StoredFile:
    stored = app.state.files.get(file_id)
    if stored is None:
        raise _file_not_found(file_id)
    return stored


def create(app: FakeOpenAIServer, request: Request) -> JsonReply:
    upload = request.uploads.get("file")
    if upload is None:
        raise bad_request(
            "Missing required parameter: 'file'.", param="file", code="missing_required_parameter"
        )
    purpose = request.form.get("purpose")
    if not purpose:
        raise bad_request(
            "Missing required parameter: 'purpose'.",
            param="purpose",
            code="missing_required_parameter",
        )
    if purpose not in PURPOSES:
        raise bad_request(
            f"'{purpose}' is not one of {list(PURPOSES)} - 'purpose'", param="purpose"
        )
    now = app.now()
    expires_at = None
    seconds = request.form.get("expires_after[seconds]")
    if seconds is not None:
        try:
            expires_at = now + int(seconds)
        except ValueError:
            raise bad_request(
                "Invalid 'expires_after[seconds]': expected an integer.", param="expires_after"
            ) from None
    stored = StoredFile(
        id=app.state.ids.new("file"),
        filename=upload.filename,
        purpose=purpose,
        data=upload.data,
        created_at=now,
        expires_at=expires_at,
    )
    app.state.files[stored.id] = stored
    return JsonReply(stored.to_wire())


def list_files(app: FakeOpenAIServer, request: Request) -> JsonReply:
    purpose = request.arg("purpose")
    rows = [
        stored.to_wire()
        for stored in app.state.files.values()
        if purpose is None or stored.purpose == purpose
    ]
    page = paginate(rows, request, default_limit=10000, max_limit=10000)
    # Key order as on the wire: the Files list puts has_more before the ids.
    return JsonReply(
        {
            "object": "list",
            "data": page["data"],
            "has_more": page["has_more"],
            "first_id": page["first_id"],
            "last_id": page["last_id"],
        }
    )


def retrieve(app: FakeOpenAIServer, request: Request, file_id: str) -> JsonReply:
    return JsonReply(_get(app, file_id).to_wire())


def content(app: FakeOpenAIServer, request: Request, file_id: str) -> RawReply:
    stored = _get(app, file_id)
    return RawReply(stored.data, content_type="application/octet-stream")


def delete(app: FakeOpenAIServer, request: Request, file_id: str) -> JsonReply:
    _get(app, file_id)
    del app.state.files[file_id]
    return JsonReply(deleted(file_id, "file"))


ROUTES: list[Route] = [
    ("POST", "/files", create),
    ("GET", "/files", list_files),
    ("GET", "/files/{file_id}", retrieve),
    ("GET", "/files/{file_id}/content", content),
    ("DELETE", "/files/{file_id}", delete),
]

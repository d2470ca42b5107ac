"""Reading an existing vector store so that a corpus can adopt it: the store, its files and
their originals."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import openai

from documents.backends.failures import provider_errors

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteStore:
    id: str
    name: str
    file_count: int


@dataclass(frozen=True)
class RemoteFile:
    """A file attached to a vector store, as adoption needs it."""

    file_id: str
    filename: str  # "" when the File itself was deleted at OpenAI
    size_bytes: int
    status: str  # in_progress, completed, failed or cancelled
    error: str  # OpenAI's reason when failed
    attributes: dict[str, str | float | bool] = field(default_factory=dict)


def retrieve_store(*, client: openai.OpenAI, vector_store_id: str) -> RemoteStore | None:
    with provider_errors():
        try:
            store = client.vector_stores.retrieve(vector_store_id)
        except openai.NotFoundError:
            return None
    return RemoteStore(id=store.id, name=store.name or "", file_count=store.file_counts.total)


def list_store_files(*, client: openai.OpenAI, vector_store_id: str) -> list[RemoteFile]:
    remote: list[RemoteFile] = []
    with provider_errors():
        for vs_file in client.vector_stores.files.list(vector_store_id, limit=100, order="asc"):
            try:
                stored = client.files.retrieve(vs_file.id)
            except openai.NotFoundError:
                filename, size = "", 0
            else:
                filename, size = stored.filename, stored.bytes
            remote.append(
                RemoteFile(
                    file_id=vs_file.id,
                    filename=filename,
                    size_bytes=size,
                    status=vs_file.status,
                    error=vs_file.last_error.message if vs_file.last_error else "",
                    attributes=dict(vs_file.attributes or {}),
                )
            )
    return remote


def download(*, client: openai.OpenAI, file_id: str) -> bytes | None:
    with provider_errors():
        try:
            return client.files.content(file_id).read()
        except (openai.BadRequestError, openai.PermissionDeniedError, openai.NotFoundError):
            logger.info("file %s: OpenAI refused the download", file_id)
            return None

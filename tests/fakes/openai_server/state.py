"""The fake's stores: everything a reset forgets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .ids import IdFactory

JSONDict = dict[str, Any]


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int
    expires_at: int | None = None

    def to_wire(self) -> JSONDict:
        return {
            "object": "file",
            "id": self.id,
            "purpose": self.purpose,
            "filename": self.filename,
            "bytes": len(self.data),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class Chunk:
    text: str
    terms: list[str]
    # Term frequencies, counted once at ingestion rather than on every search.
    counts: Counter[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.counts = Counter(self.terms)


@dataclass
class VectorStoreFile:
    file_id: str
    vector_store_id: str
    created_at: int
    attributes: JSONDict
    chunking_strategy: JSONDict
    status: str = "in_progress"
    last_error: JSONDict | None = None
    polls: int = 0
    chunks: list[Chunk] = field(default_factory=list)
    usage_bytes: int = 0
    batch_id: str | None = None

    def to_wire(self) -> JSONDict:
        return {
            "id": self.file_id,
            "object": "vector_store.file",
            "usage_bytes": self.usage_bytes,
            "created_at": self.created_at,
            "vector_store_id": self.vector_store_id,
            "status": self.status,
            "last_error": self.last_error,
            "chunking_strategy": self.chunking_strategy,
            "attributes": self.attributes,
        }


def file_counts(files: list[VectorStoreFile]) -> JSONDict:
    counts = {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0}
    for vs_file in files:
        counts[vs_file.status] += 1
    return {**counts, "total": len(files)}


@dataclass
class VectorStore:
    id: str
    created_at: int
    name: str | None
    description: str | None
    metadata: JSONDict
    expires_after: JSONDict | None
    last_active_at: int
    files: dict[str, VectorStoreFile] = field(default_factory=dict)

    def to_wire(self) -> JSONDict:
        files = list(self.files.values())
        expires_at = None
        if self.expires_after is not None:
            expires_at = self.last_active_at + int(self.expires_after["days"]) * 86400
        return {
            "id": self.id,
            "object": "vector_store",
            "created_at": self.created_at,
            "name": self.name,
            "description": self.description,
            "usage_bytes": sum(f.usage_bytes for f in files),
            "file_counts": file_counts(files),
            "status": "in_progress"
            if any(f.status == "in_progress" for f in files)
            else "completed",
            "expires_after": self.expires_after,
            "expires_at": expires_at,
            "last_active_at": self.last_active_at,
            "metadata": self.metadata,
        }


@dataclass
class FileBatch:
    id: str
    vector_store_id: str
    created_at: int
    file_ids: list[str]
    cancelled: bool = False


@dataclass
class StoredResponse:
    wire: JSONDict
    input_items: list[JSONDict]
    stored: bool = True


@dataclass
class Conversation:
    id: str
    created_at: int
    metadata: JSONDict
    items: list[JSONDict] = field(default_factory=list)

    def to_wire(self) -> JSONDict:
        return {
            "id": self.id,
            "object": "conversation",
            "created_at": self.created_at,
            "metadata": self.metadata,
        }


@dataclass
class Run:
    wire: JSONDict
    steps: list[JSONDict] = field(default_factory=list)


@dataclass
class Thread:
    wire: JSONDict
    messages: list[JSONDict] = field(default_factory=list)
    runs: dict[str, Run] = field(default_factory=dict)


@dataclass
class State:
    ids: IdFactory
    files: dict[str, StoredFile] = field(default_factory=dict)
    vector_stores: dict[str, VectorStore] = field(default_factory=dict)
    batches: dict[str, FileBatch] = field(default_factory=dict)
    responses: dict[str, StoredResponse] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    assistants: dict[str, JSONDict] = field(default_factory=dict)
    threads: dict[str, Thread] = field(default_factory=dict)

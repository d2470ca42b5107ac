"""Attaching files to vector stores and their (simulated, poll-driven) processing."""

from __future__ import annotations

import copy
import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .state import Chunk, VectorStore, VectorStoreFile
from .text import (
    DEFAULT_CHUNKING,
    ExtractionError,
    chunk_text,
    extension_supported,
    extract_text,
    tokenize,
)
from .wire import ApiError, bad_request, not_found

if TYPE_CHECKING:
    from .server import FakeOpenAIServer

ERROR_MESSAGES = {
    "server_error": "An internal error occurred while processing the file.",
    "unsupported_file": "The file type is not supported.",
    "invalid_file": "The file could not be parsed.",
}


@dataclass
class ProcessingFailure:
    pattern: str
    code: str
    message: str


def normalize_chunking(spec: Any, param: str = "chunking_strategy") -> dict[str, Any]:
    if spec is None:
        return copy.deepcopy(DEFAULT_CHUNKING)
    if not isinstance(spec, dict) or spec.get("type") not in ("auto", "static"):
        raise bad_request(
            f"Invalid '{param}': 'type' must be one of 'auto' or 'static'.", param=param
        )
    if spec["type"] == "auto":
        return copy.deepcopy(DEFAULT_CHUNKING)
    static = spec.get("static")
    if not isinstance(static, dict):
        raise bad_request(f"Missing required parameter: '{param}.static'.", param=param)
    size = static.get("max_chunk_size_tokens")
    overlap = static.get("chunk_overlap_tokens")
    if not isinstance(size, int) or not 100 <= size <= 4096:
        raise bad_request(
            f"Invalid '{param}.static.max_chunk_size_tokens': must be between 100 and 4096.",
            param=param,
        )
    if not isinstance(overlap, int) or overlap < 0 or overlap > size // 2:
        raise bad_request(
            f"Invalid '{param}.static.chunk_overlap_tokens': must be non-negative and not exceed"
            " half of max_chunk_size_tokens.",
            param=param,
        )
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
    }


def validate_attributes(value: Any, param: str = "attributes") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"Invalid type for '{param}': expected an object.", param=param)
    if len(value) > 16:
        raise bad_request(f"Invalid '{param}': at most 16 keys are allowed.", param=param)
    for key, item in value.items():
        if len(key) > 64:
            raise bad_request(f"Invalid '{param}': keys are at most 64 characters.", param=param)
        if isinstance(item, str):
            if len(item) > 512:
                raise bad_request(
                    f"Invalid '{param}.{key}': strings are at most 512 characters.", param=param
                )
        elif not isinstance(item, bool | int | float):
            raise bad_request(
                f"Invalid '{param}.{key}': values must be strings, numbers or booleans.",
                param=param,
            )
    return dict(value)


def get_store(app: FakeOpenAIServer, vector_store_id: str) -> VectorStore:
    store = app.state.vector_stores.get(vector_store_id)
    if store is None:
        raise not_found(f"No vector store found with id '{vector_store_id}'.")
    return store


def get_store_file(app: FakeOpenAIServer, store: VectorStore, file_id: str) -> VectorStoreFile:
    vs_file = store.files.get(file_id)
    if vs_file is None:
        raise not_found(f"No file found with id '{file_id}' in vector store '{store.id}'.")
    return vs_file


def attach(
    app: FakeOpenAIServer,
    store: VectorStore,
    file_id: Any,
    *,
    attributes: dict[str, Any] | None = None,
    chunking_strategy: dict[str, Any] | None = None,
    batch_id: str | None = None,
) -> VectorStoreFile:
    if not isinstance(file_id, str) or file_id not in app.state.files:
        raise ApiError(404, f"No file found with id '{file_id}'.", param="file_id")
    existing = store.files.get(file_id)
    if existing is not None:  # attaching twice is idempotent on the real API
        return existing
    vs_file = VectorStoreFile(
        file_id=file_id,
        vector_store_id=store.id,
        created_at=app.now(),
        attributes=dict(attributes or {}),
        chunking_strategy=copy.deepcopy(chunking_strategy or DEFAULT_CHUNKING),
        batch_id=batch_id,
    )
    store.files[file_id] = vs_file
    store.last_active_at = app.now()
    if app.processing_polls <= 0:
        finalize(app, vs_file)
    return vs_file


def observe(app: FakeOpenAIServer, vs_file: VectorStoreFile) -> None:
    """A GET that shows this file: after `processing_polls` of them it has been processed."""
    if vs_file.status != "in_progress":
        return
    vs_file.polls += 1
    if vs_file.polls > app.processing_polls:
        finalize(app, vs_file)


def observe_store(app: FakeOpenAIServer, store: VectorStore) -> None:
    for vs_file in list(store.files.values()):
        observe(app, vs_file)


def finalize(app: FakeOpenAIServer, vs_file: VectorStoreFile) -> None:
    stored = app.state.files.get(vs_file.file_id)
    if stored is None:
        _fail(vs_file, "invalid_file", "The file was deleted before it could be processed.")
        return
    for failure in app.file_failures:
        if fnmatch.fnmatch(stored.filename, failure.pattern):
            _fail(vs_file, failure.code, failure.message)
            return
    if app.check_file_types and not extension_supported(stored.filename):
        _fail(vs_file, "unsupported_file", ERROR_MESSAGES["unsupported_file"])
        return
    try:
        text = extract_text(stored.filename, stored.data)
    except ExtractionError:
        _fail(vs_file, "invalid_file", ERROR_MESSAGES["invalid_file"])
        return
    static = vs_file.chunking_strategy["static"]
    pieces = chunk_text(
        text,
        max_tokens=static["max_chunk_size_tokens"],
        overlap_tokens=static["chunk_overlap_tokens"],
    )
    vs_file.chunks = [Chunk(text=piece, terms=tokenize(piece)) for piece in pieces]
    vs_file.usage_bytes = len(text.encode())
    vs_file.status = "completed"


def _fail(vs_file: VectorStoreFile, code: str, message: str) -> None:
    vs_file.status = "failed"
    vs_file.last_error = {"code": code, "message": message}
    vs_file.chunks = []
    vs_file.usage_bytes = 0


def resolve_file_search_stores(app: FakeOpenAIServer, spec: Any, param: str) -> list[str]:
    """`{"vector_store_ids": [...]}` or `{"vector_stores": [{"file_ids": [...]}]}` -> store ids."""
    if spec is None:
        return []
    if not isinstance(spec, dict):
        raise bad_request(f"Invalid type for '{param}': expected an object.", param=param)
    ids = spec.get("vector_store_ids") or []
    for store_id in ids:
        get_store(app, store_id)
    for helper in spec.get("vector_stores") or []:
        store = new_store(app, name=None, metadata=helper.get("metadata") or {})
        chunking = normalize_chunking(helper.get("chunking_strategy"))
        for file_id in helper.get("file_ids") or []:
            attach(app, store, file_id, chunking_strategy=chunking)
        ids = [*ids, store.id]
    return list(ids)


def new_store(
    app: FakeOpenAIServer,
    *,
    name: str | None,
    metadata: dict[str, Any],
    description: str | None = None,
    expires_after: dict[str, Any] | None = None,
) -> VectorStore:
    now = app.now()
    store = VectorStore(
        id=app.state.ids.new("vector_store"),
        created_at=now,
        name=name,
        description=description,
        metadata=metadata,
        expires_after=expires_after,
        last_active_at=now,
    )
    app.state.vector_stores[store.id] = store
    return store

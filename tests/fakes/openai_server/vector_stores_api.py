"""/v1/vector_stores, their files, file batches and search."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import ingest
from .search import (
    query_weights,
    search,
    validate_filter,
    validate_max_num_results,
    validate_ranking,
)
from .state import FileBatch, VectorStore, VectorStoreFile, file_counts
from .text import content_terms
from .wire import (
    JsonReply,
    Request,
    bad_request,
    deleted,
    not_found,
    optional,
    paginate,
    require,
    string_list,
)

if TYPE_CHECKING:
    from .server import FakeOpenAIServer, Route

FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")


def _poll_headers(app: FakeOpenAIServer) -> dict[str, str]:
    # The SDK's create_and_poll/poll sleep for this long between GETs.
    return {} if app.poll_after_ms is None else {"openai-poll-after-ms": str(app.poll_after_ms)}


def _expires_after(body: dict[str, Any]) -> dict[str, Any] | None:
    value = optional(body, "expires_after", dict)
    if value is None:
        return None
    if value.get("anchor") != "last_active_at" or not isinstance(value.get("days"), int):
        raise bad_request(
            "Invalid 'expires_after': expected {'anchor': 'last_active_at', 'days': int}.",
            param="expires_after",
        )
    if not 1 <= value["days"] <= 365:
        raise bad_request("Invalid 'expires_after.days': must be between 1 and 365.")
    return {"anchor": "last_active_at", "days": value["days"]}


def _metadata(body: dict[str, Any], default: Any = None) -> Any:
    value = optional(body, "metadata", dict, default)
    if value is not None and len(value) > 16:
        raise bad_request("Invalid 'metadata': at most 16 keys are allowed.", param="metadata")
    return value


# --- vector stores --------------------------------------------------------------------------------


def create_store(app: FakeOpenAIServer, request: Request) -> JsonReply:
    body = request.body()
    name = optional(body, "name", str)
    description = optional(body, "description", str)
    file_ids = string_list(body, "file_ids")
    chunking = ingest.normalize_chunking(body.get("chunking_strategy"))
    store = ingest.new_store(
        app,
        name=name,
        description=description,
        metadata=_metadata(body, {}),
        expires_after=_expires_after(body),
    )
    for file_id in file_ids:
        ingest.attach(app, store, file_id, chunking_strategy=chunking)
    return JsonReply(store.to_wire())


def list_stores(app: FakeOpenAIServer, request: Request) -> JsonReply:
    for store in app.state.vector_stores.values():
        ingest.observe_store(app, store)
    rows = [store.to_wire() for store in app.state.vector_stores.values()]
    return JsonReply(paginate(rows, request))


def retrieve_store(app: FakeOpenAIServer, request: Request, vector_store_id: str) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    ingest.observe_store(app, store)
    return JsonReply(store.to_wire(), headers=_poll_headers(app))


def modify_store(app: FakeOpenAIServer, request: Request, vector_store_id: str) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    body = request.body()
    if "name" in body:
        store.name = optional(body, "name", str)
    if "metadata" in body:
        store.metadata = _metadata(body, {})
    if "expires_after" in body:
        store.expires_after = _expires_after(body)
    return JsonReply(store.to_wire())


def delete_store(app: FakeOpenAIServer, request: Request, vector_store_id: str) -> JsonReply:
    ingest.get_store(app, vector_store_id)
    del app.state.vector_stores[vector_store_id]
    return JsonReply(deleted(vector_store_id, "vector_store.deleted"))


# --- vector store files ---------------------------------------------------------------------------


def create_file(app: FakeOpenAIServer, request: Request, vector_store_id: str) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    body = request.body()
    file_id = require(body, "file_id", str)
    vs_file = ingest.attach(
        app,
        store,
        file_id,
        attributes=ingest.validate_attributes(body.get("attributes")),
        chunking_strategy=ingest.normalize_chunking(body.get("chunking_strategy")),
    )
    return JsonReply(vs_file.to_wire(), headers=_poll_headers(app))


def _file_page(app: FakeOpenAIServer, request: Request, files: list[VectorStoreFile]) -> JsonReply:
    wanted = request.arg("filter")
    if wanted is not None and wanted not in FILE_STATUSES:
        raise bad_request(
            f"Invalid value: '{wanted}'. Supported values are: {', '.join(FILE_STATUSES)}.",
            param="filter",
        )
    for vs_file in files:
        ingest.observe(app, vs_file)
    rows = [f.to_wire() for f in files if wanted is None or f.status == wanted]
    return JsonReply(paginate(rows, request), headers=_poll_headers(app))


def list_files(app: FakeOpenAIServer, request: Request, vector_store_id: str) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    return _file_page(app, request, list(store.files.values()))


def retrieve_file(
    app: FakeOpenAIServer, request: Request, vector_store_id: str, file_id: str
) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    vs_file = ingest.get_store_file(app, store, file_id)
    ingest.observe(app, vs_file)
    return JsonReply(vs_file.to_wire(), headers=_poll_headers(app))


def update_file(
    app: FakeOpenAIServer, request: Request, vector_store_id: str, file_id: str
) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    vs_file = ingest.get_store_file(app, store, file_id)
    body = request.body()
    if "attributes" not in body:
        raise bad_request(
            "Missing required parameter: 'attributes'.",
            param="attributes",
            code="missing_required_parameter",
        )
    vs_file.attributes = ingest.validate_attributes(body["attributes"])
    return JsonReply(vs_file.to_wire(), headers=_poll_headers(app))


def delete_file(
    app: FakeOpenAIServer, request: Request, vector_store_id: str, file_id: str
) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    ingest.get_store_file(app, store, file_id)
    del store.files[file_id]
    return JsonReply(deleted(file_id, "vector_store.file.deleted"))


def file_content(
    app: FakeOpenAIServer, request: Request, vector_store_id: str, file_id: str
) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    vs_file = ingest.get_store_file(app, store, file_id)
    data = [{"type": "text", "text": chunk.text} for chunk in vs_file.chunks]
    return JsonReply(
        {
            "object": "vector_store.file_content.page",
            "data": data,
            "has_more": False,
            "next_page": None,
        }
    )


# --- file batches ---------------------------------------------------------------------------------


def _batch_wire(app: FakeOpenAIServer, batch: FileBatch) -> dict[str, Any]:
    store = app.state.vector_stores.get(batch.vector_store_id)
    files = [store.files[i] for i in batch.file_ids if store and i in store.files]
    counts = file_counts(files)
    if batch.cancelled:
        status = "cancelled"
    elif counts["in_progress"]:
        status = "in_progress"
    else:
        status = "completed"
    return {
        "id": batch.id,
        # The wire says file_batch; the spec's files_batch is wrong (SOURCES.md).
        "object": "vector_store.file_batch",
        "created_at": batch.created_at,
        "status": status,
        "vector_store_id": batch.vector_store_id,
        "file_counts": counts,
    }


def _get_batch(app: FakeOpenAIServer, store: VectorStore, batch_id: str) -> FileBatch:
    batch = app.state.batches.get(batch_id)
    if batch is None or batch.vector_store_id != store.id:
        raise not_found(f"No file batch found with id '{batch_id}'.")
    return batch


def create_batch(app: FakeOpenAIServer, request: Request, vector_store_id: str) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    body = request.body()
    file_ids = string_list(body, "file_ids")
    files = optional(body, "files", list, [])
    if file_ids and files:
        raise bad_request("Provide either 'file_ids' or 'files', not both.", param="files")
    if not file_ids and not files:
        raise bad_request(
            "Missing required parameter: 'file_ids'.",
            param="file_ids",
            code="missing_required_parameter",
        )
    attributes = ingest.validate_attributes(body.get("attributes"))
    chunking = ingest.normalize_chunking(body.get("chunking_strategy"))
    entries = [{"file_id": file_id} for file_id in file_ids] + list(files)
    batch = FileBatch(
        id=app.state.ids.new("file_batch"),
        vector_store_id=store.id,
        created_at=app.now(),
        file_ids=[],
    )
    for entry in entries:
        if not isinstance(entry, dict):
            raise bad_request("Invalid 'files': expected objects with a 'file_id'.", param="files")
        file_id = require(entry, "file_id", str)
        ingest.attach(
            app,
            store,
            file_id,
            attributes=ingest.validate_attributes(entry.get("attributes"), "files.attributes")
            if "attributes" in entry
            else attributes,
            chunking_strategy=ingest.normalize_chunking(entry["chunking_strategy"])
            if "chunking_strategy" in entry
            else chunking,
            batch_id=batch.id,
        )
        batch.file_ids.append(file_id)
    app.state.batches[batch.id] = batch
    return JsonReply(_batch_wire(app, batch), headers=_poll_headers(app))


def retrieve_batch(
    app: FakeOpenAIServer, request: Request, vector_store_id: str, batch_id: str
) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    batch = _get_batch(app, store, batch_id)
    for file_id in batch.file_ids:
        if file_id in store.files:
            ingest.observe(app, store.files[file_id])
    return JsonReply(_batch_wire(app, batch), headers=_poll_headers(app))


def cancel_batch(
    app: FakeOpenAIServer, request: Request, vector_store_id: str, batch_id: str
) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    batch = _get_batch(app, store, batch_id)
    for file_id in batch.file_ids:
        vs_file = store.files.get(file_id)
        if vs_file is not None and vs_file.status == "in_progress":
            vs_file.status = "cancelled"
    batch.cancelled = True
    return JsonReply(_batch_wire(app, batch), headers=_poll_headers(app))


def list_batch_files(
    app: FakeOpenAIServer, request: Request, vector_store_id: str, batch_id: str
) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    batch = _get_batch(app, store, batch_id)
    files = [store.files[i] for i in batch.file_ids if i in store.files]
    return _file_page(app, request, files)


# --- search ---------------------------------------------------------------------------------------


def search_store(app: FakeOpenAIServer, request: Request, vector_store_id: str) -> JsonReply:
    store = ingest.get_store(app, vector_store_id)
    body = request.body()
    query = require(body, "query", (str, list))
    queries = [query] if isinstance(query, str) else query
    if not queries or not all(isinstance(q, str) for q in queries):
        raise bad_request(
            "Invalid 'query': expected a string or an array of strings.", param="query"
        )
    max_results = optional(body, "max_num_results", int, 10)
    validate_max_num_results(max_results)
    filters = body.get("filters")
    if filters is not None:
        validate_filter(filters)
    ranking = validate_ranking(optional(body, "ranking_options", dict, {}))
    threshold = float(ranking.get("score_threshold") or 0.0)
    if optional(body, "rewrite_query", bool, False):
        queries = [" ".join(content_terms(q)) or q for q in queries]
    store.last_active_at = app.now()
    hits = search(
        app.state,
        [store.id],
        query_weights(queries),
        max_num_results=max_results,
        filters=filters,
        score_threshold=threshold,
    )
    data = [
        {
            "file_id": hit.file_id,
            "filename": hit.filename,
            "score": hit.score,
            "attributes": hit.attributes,
            "content": [{"type": "text", "text": hit.text}],
        }
        for hit in hits
    ]
    return JsonReply(
        {
            "object": "vector_store.search_results.page",
            "search_query": queries,
            "data": data,
            "has_more": False,
            "next_page": None,
        }
    )


STORE = "/vector_stores/{vector_store_id}"
ROUTES: list[Route] = [
    ("POST", "/vector_stores", create_store),
    ("GET", "/vector_stores", list_stores),
    ("GET", STORE, retrieve_store),
    ("POST", STORE, modify_store),
    ("DELETE", STORE, delete_store),
    ("POST", STORE + "/files", create_file),
    ("GET", STORE + "/files", list_files),
    ("GET", STORE + "/files/{file_id}", retrieve_file),
    ("POST", STORE + "/files/{file_id}", update_file),
    ("DELETE", STORE + "/files/{file_id}", delete_file),
    ("GET", STORE + "/files/{file_id}/content", file_content),
    ("POST", STORE + "/file_batches", create_batch),
    ("GET", STORE + "/file_batches/{batch_id}", retrieve_batch),
    ("POST", STORE + "/file_batches/{batch_id}/cancel", cancel_batch),
    ("GET", STORE + "/file_batches/{batch_id}/files", list_batch_files),
    ("POST", STORE + "/search", search_store),
]

"""The Responses API's streamed event sequence (`stream: true` on /v1/responses)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .text import split_deltas
from .wire import sse

if TYPE_CHECKING:
    from .server import FakeOpenAIServer


def response_events(
    app: FakeOpenAIServer,
    initial: dict[str, Any],
    final: dict[str, Any],
    failing: dict[str, Any] | None = None,
) -> list[Any]:
    """The streamed events of a response that starts as `initial` and ends as `final`; a
    `failing` message stops half-way through its text, before the response fails."""
    events: list[dict[str, Any]] = []

    def emit(kind: str, **payload: Any) -> None:
        events.append({"type": kind, **payload, "sequence_number": len(events)})

    emit("response.created", response=initial)
    emit("response.in_progress", response=initial)
    items = final["output"] + ([failing] if failing is not None else [])
    for index, item in enumerate(items):
        if item["type"] == "file_search_call":
            added = {**item, "status": "in_progress", "queries": [], "results": None}
            emit("response.output_item.added", item=added, output_index=index)
            for phase in ("in_progress", "searching", "completed"):
                emit(f"response.file_search_call.{phase}", item_id=item["id"], output_index=index)
            emit("response.output_item.done", item=item, output_index=index)
            continue
        part = item["content"][0]
        ids = {"content_index": 0, "item_id": item["id"]}
        added = {**item, "status": "in_progress", "content": []}
        emit("response.output_item.added", item=added, output_index=index)
        empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        emit("response.content_part.added", **ids, output_index=index, part=empty)
        pending = list(enumerate(part["annotations"]))
        written = 0
        deltas = split_deltas(part["text"])
        if item is failing:
            deltas = deltas[: len(deltas) // 2]
        for delta in deltas:
            emit(
                "response.output_text.delta",
                **ids,
                delta=delta,
                logprobs=[],
                obfuscation=app.state.ids.noise(max(0, 16 - len(delta))),
                output_index=index,
            )
            written += len(delta)
            while pending and pending[0][1]["index"] <= written:
                number, annotation = pending.pop(0)
                emit(
                    "response.output_text.annotation.added",
                    annotation=annotation,
                    annotation_index=number,
                    **ids,
                    output_index=index,
                )
        if item is failing:
            break
        emit("response.output_text.done", **ids, logprobs=[], output_index=index, text=part["text"])
        emit("response.content_part.done", **ids, output_index=index, part=part)
        emit("response.output_item.done", item=item, output_index=index)
    finished = {"completed": "response.completed", "failed": "response.failed"}.get(
        final["status"], "response.incomplete"
    )
    emit(finished, response=final)
    # Responses streams carry `event:` lines and end without [DONE].
    return [sse(event["type"], event) for event in events]

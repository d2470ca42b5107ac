"""The streamed event sequence of `POST /v1/responses` with `stream: true`, as OpenAI sends it
(../shared/openai/recordings/ResponsesToolTests__FileSearchCallStreaming.json):

    response.created, response.in_progress, response.output_item.added,
    response.content_part.added, response.output_text.delta ...,
    response.output_text.annotation.added ..., response.output_text.done,
    response.content_part.done, response.output_item.done, response.completed

each as `event: <type>` and `data: {..., "sequence_number": n}`, numbered from 0, with no
`[DONE]` at the end. A failed answer ends with `response.failed`; an error outside the answer
with an `error` event.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from api.errors import INTERNAL_MESSAGE
from api.openai_compat import responses_wire as wire
from api.streams import aclose
from chat.services import AskCompleted, AskFailed
from chat.strategies.base import TextDelta

if TYPE_CHECKING:
    from api.models import ApiResponse
    from api.responses_services import ResponseEvent

logger = logging.getLogger(__name__)


class ResponseStream:
    def __init__(self, response: ApiResponse, *, obfuscation: bool = True) -> None:
        self.response = response
        self.obfuscation = obfuscation
        self.sequence = 0
        self.item_id = response.output[0]["id"]

    def emit(self, kind: str, **payload: Any) -> str:
        data = {"type": kind, **payload, "sequence_number": self.sequence}
        self.sequence += 1
        return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    def _ids(self) -> dict[str, Any]:
        return {"content_index": 0, "item_id": self.item_id, "output_index": 0}

    async def events(self, events: AsyncIterator[ResponseEvent]) -> AsyncIterator[str]:
        response = self.response
        item = {
            "id": self.item_id,
            "type": "message",
            "status": "in_progress",
            "content": [],
            "role": "assistant",
        }
        # Stored answers are stripped: hold whitespace back at both ends so that the deltas
        # add up to the text of response.output_text.done.
        started = False
        held = ""
        try:
            initial = wire.response_object(response, status="in_progress")
            yield self.emit("response.created", response=initial)
            yield self.emit("response.in_progress", response=initial)
            yield self.emit("response.output_item.added", item=item, output_index=0)
            yield self.emit(
                "response.content_part.added",
                content_index=0,
                item_id=self.item_id,
                output_index=0,
                part=wire.output_text_part(""),
            )
            async for event in events:
                if isinstance(event, TextDelta):
                    text = held + event.text
                    if not started:
                        text = text.lstrip()
                    body = text.rstrip()
                    held = text[len(body) :]
                    if body:
                        started = True
                        yield self._delta(body)
                elif isinstance(event, AskCompleted):
                    for line in self._finish(event):
                        yield line
                    return
                elif isinstance(event, AskFailed):
                    # The thread answering recorded the failure on this same row object.
                    yield self.emit("response.failed", response=wire.response_object(response))
                    return
            # The answer was stopped (in the web UI, say) before it ended.
            yield self.emit(
                "response.incomplete",
                response=wire.response_object(response, status="incomplete", output=[]),
            )
        except Exception:
            logger.exception("response %s: the stream failed", response.pk)
            yield self.emit("error", code="server_error", message=INTERNAL_MESSAGE, param=None)
        finally:
            await aclose(events)  # type: ignore[arg-type]

    def _delta(self, text: str) -> str:
        extra: dict[str, str] = {}
        if self.obfuscation:
            # OpenAI pads deltas with random characters so that their sizes do not tell the
            # text (stream_options.include_obfuscation, on by default).
            extra["obfuscation"] = secrets.token_urlsafe(12)[: max(1, 16 - len(text))]
        return self.emit(
            "response.output_text.delta",
            content_index=0,
            delta=text,
            item_id=self.item_id,
            logprobs=[],
            **extra,
            output_index=0,
        )

    def _finish(self, event: AskCompleted) -> list[str]:
        lines = []
        final = wire.response_object(self.response)
        (message,) = final["output"]
        part = message["content"][0]
        sources = wire.answer_text(event.message)[len(event.message.content) :]
        if sources:
            lines.append(self._delta(sources))
        for index, annotation in enumerate(part["annotations"]):
            lines.append(
                self.emit(
                    "response.output_text.annotation.added",
                    annotation=annotation,
                    annotation_index=index,
                    **self._ids(),
                )
            )
        lines.append(
            self.emit("response.output_text.done", **self._ids(), logprobs=[], text=part["text"])
        )
        lines.append(self.emit("response.content_part.done", **self._ids(), part=part))
        lines.append(self.emit("response.output_item.done", item=message, output_index=0))
        lines.append(self.emit("response.completed", response=final))
        return lines

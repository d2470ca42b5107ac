"""One Assistants run as the strategy's events: the run's file_search results, its streamed
text with the 【4:0†source】 markers replaced by [n] markers, how it ended."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import openai

from chat.strategies.assistants.source_markers import SourceMarker, SourceMarkerStream
from chat.strategies.base import (
    AnswerRequest,
    CitationFound,
    PassagesFound,
    StrategyError,
    StrategyEvent,
    TextDelta,
    Usage,
)
from chat.strategies.errors import answer_failed
from chat.strategies.remote import AnnotatedText, CitedFiles
from documents.providers import reported_failure

if TYPE_CHECKING:
    from openai.types.beta import AssistantStreamEvent
    from openai.types.beta.threads import Run

logger = logging.getLogger(__name__)

ACTIVE = ("queued", "in_progress", "requires_action")


@dataclass
class RunState:
    thread_id: str
    model: str
    id: str = ""
    status: str = ""
    answer: str = ""
    notice: str = ""
    usage: Usage = field(default_factory=Usage)
    cited: CitedFiles | None = None


def _retrieval() -> dict[str, str]:
    return {"searched_by": "assistants file_search"}


def stream_run(
    stream: Iterable[AssistantStreamEvent], *, request: AnswerRequest, run: RunState
) -> Iterator[StrategyEvent]:
    """The run's events as the strategy's: text with [n] markers, citations; the answer and
    usage land on `run`."""
    run.cited = cited = CitedFiles(request.corpus)
    shown = AnnotatedText()
    parts: dict[str, SourceMarkerStream] = {}
    files: dict[str, str] = {}  # marker text -> cited file id
    for event in stream:
        if event.event.startswith("thread.run.") and not event.event.startswith("thread.run.step"):
            _track(run, event.data)  # type: ignore[arg-type]
        if event.event == "thread.run.step.completed":
            details = event.data.step_details
            if details.type == "tool_calls":
                new = False
                for call in details.tool_calls:
                    if call.type == "file_search":
                        for result in call.file_search.results or []:
                            text = "\n".join(c.text for c in result.content or [] if c.text)
                            new |= cited.add_result(result.file_id, text, score=result.score)
                if new:
                    yield PassagesFound(passages=tuple(cited.passages), retrieval=_retrieval())
        elif event.event == "thread.message.delta":
            for block in event.data.delta.content or []:
                if block.type != "text" or block.text is None:
                    continue
                for annotation in block.text.annotations or []:
                    if annotation.type == "file_citation" and annotation.text:
                        citation = annotation.file_citation
                        if citation is not None and citation.file_id:
                            files[annotation.text] = citation.file_id
                part = f"{event.data.id}:{block.index}"
                markers = parts.setdefault(part, SourceMarkerStream())
                pieces = markers.feed(block.text.value or "")
                yield from _show(part, pieces, shown, cited, files)
        elif event.event == "thread.message.completed":
            for index, content in enumerate(event.data.content):
                if content.type == "text":
                    for done in content.text.annotations:
                        if done.type == "file_citation":
                            files.setdefault(done.text, done.file_citation.file_id)
                part = f"{event.data.id}:{index}"
                if part in parts:
                    yield from _show(part, parts.pop(part).flush(), shown, cited, files)
        elif event.event in ("thread.run.completed", "thread.run.incomplete"):
            for part, markers in parts.items():
                yield from _show(part, markers.flush(), shown, cited, files)
            run.answer = shown.final()
            logger.info(
                "corpus %s: run %s %s with %s citations",
                request.corpus.pk,
                run.id,
                run.status,
                len(cited.citations),
            )
            return
        elif event.event == "thread.run.failed":
            error = event.data.last_error
            failure = reported_failure(
                code=error.code if error else None,
                message=error.message if error else "no reason given",
            )
            raise answer_failed(failure, who="The assistant")
        elif event.event in ("thread.run.cancelled", "thread.run.expired"):
            raise StrategyError(
                "The assistant stopped before answering. Try again.",
                retryable=True,
                code="incomplete",
            )
        elif event.event == "thread.run.requires_action":
            raise StrategyError(
                "The assistant asked for a tool Docent does not provide; an administrator "
                "should check the assistant's tools.",
                retryable=False,
                code="provider_error",
            )
        elif event.event == "error":
            failure = reported_failure(code=event.data.code, message=event.data.message)
            raise answer_failed(failure, who="The assistant")
    raise StrategyError(
        "The answer ended unexpectedly. Try again.", retryable=True, code="incomplete"
    )


def _track(run: RunState, data: Run) -> None:
    run.id, run.status = data.id, data.status
    if data.usage is not None:
        run.usage = Usage(
            prompt_tokens=data.usage.prompt_tokens,
            completion_tokens=data.usage.completion_tokens,
            model=data.model or run.model,
        )
    if data.status == "incomplete":
        reason = data.incomplete_details.reason if data.incomplete_details else None
        run.notice = (
            "The answer was cut short: it reached the length limit."
            if reason in ("max_completion_tokens", "max_prompt_tokens")
            else "The answer was cut short."
        )


def cancel(*, client: openai.OpenAI, run: RunState) -> None:
    with contextlib.suppress(openai.OpenAIError):
        client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
        logger.info("thread %s: cancelled run %s", run.thread_id, run.id)


def _show(
    part: str,
    pieces: list[str | SourceMarker],
    shown: AnnotatedText,
    cited: CitedFiles,
    files: dict[str, str],
) -> Iterator[StrategyEvent]:
    """Stream text of `part` with its source markers turned into [n] markers."""
    out: list[str] = []
    new = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        so_far = shown.text(part) + "".join(out)
        found = cited.cite(files.get(piece.text), context=so_far)
        if found is None:
            # Another corpus's file, or no annotation names it: the marker just goes.
            if out:
                out[-1] = out[-1].rstrip(" ")
            continue
        number, citation = found
        if not so_far.endswith(f"[{number}]"):
            out.append(f"[{number}]")
        if citation is not None:
            new.append(citation)
    delta = shown.add(part, "".join(out))
    if delta:
        yield TextDelta(delta)
    for citation in new:
        yield CitationFound(citation)

"""Assistants threads (legacy): one OpenAI assistant per corpus, with the file_search tool over
the corpus's vector store, and one thread per conversation; runs are streamed.

OpenAI shut the Assistants API down on 2026-08-26. The strategy serves servers that still offer
it (ASSISTANTS_BASE_URL) and says so plainly anywhere else, so that a corpus can be switched to
File Search, which takes its conversations over with their history.

The model writes its citations into the text as `【4:0†source】` markers, each with a
file_citation annotation naming the file. They are cut out of the streamed text and replaced by
[n] markers; the passage is the file's search result of the run that best matches the citing
sentence (see file_search.CitedFiles).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import openai

from chat.prompts import FILE_SEARCH_INSTRUCTIONS, history_messages
from chat.strategies.base import (
    AnswerDone,
    AnswerRequest,
    CitationFound,
    StrategyError,
    StrategyEvent,
    TextDelta,
    Turn,
    Usage,
)
from chat.strategies.errors import server_name, translate_openai_error
from chat.strategies.remote import (
    SYNCED,
    AnnotatedText,
    CitedFiles,
    ClientCache,
    answer_digest,
    corpus_vector_store,
    remote_backlog,
)

if TYPE_CHECKING:
    from openai.types.beta import Assistant, AssistantStreamEvent
    from openai.types.beta.thread_create_params import Message as ThreadMessage
    from openai.types.beta.threads import Run

    from documents.models import Corpus

logger = logging.getLogger(__name__)

SHUT_DOWN_ON = "2026-08-26"
# Asks the run's file_search step to carry the text of its results (not only their file ids).
RESULTS_INCLUDE: Final = "step_details.tool_calls[*].file_search.results[*].content"
_ACTIVE = ("queued", "in_progress", "requires_action")


class AssistantsStrategy:
    label = "Assistants threads (legacy)"
    index_backend = "openai"
    admin_notice = (
        f"OpenAI shut the Assistants API down on {SHUT_DOWN_ON}: this strategy only works with "
        "a server that still serves it (ASSISTANTS_BASE_URL). Conversations can be moved to "
        "File Search with their history."
    )

    def __init__(
        self,
        *,
        key: str,
        base_url: str | None = None,
        model: str = "gpt-4.1-mini",
        api_key: str = "",
        max_results: int = 8,
        client: Any = None,
    ) -> None:
        self.key = key
        self.model = model
        self.max_results = max_results
        self._clients = ClientCache(base_url=base_url, api_key=api_key, client=client)

    # --- the flow -------------------------------------------------------------------------

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        store_id = corpus_vector_store(request.corpus)
        client = self._clients.get()
        try:
            assistant_id, corpus_state = self._assistant(client, request.corpus, store_id)
            thread_id = self._thread(client, request)
            stream = client.beta.threads.runs.create(
                thread_id, assistant_id=assistant_id, include=[RESULTS_INCLUDE], stream=True
            )
            run = _RunState(thread_id=thread_id, model=self.model)
            with stream:
                try:
                    yield from self._stream(stream, request, run)
                finally:
                    if run.id and run.status in _ACTIVE:
                        # Stopped by the user or cut off: a thread with an active run refuses
                        # the next question, so the run is cancelled (best effort).
                        _cancel(client, run)
        except openai.OpenAIError as error:
            raise self._translate(error, client) from error
        yield AnswerDone(
            answer=run.answer,
            citations=tuple(run.cited.citations if run.cited else ()),
            usage=run.usage,
            provider_state={"thread_id": thread_id, SYNCED: answer_digest(run.answer)},
            corpus_state=corpus_state,
            notice=run.notice,
        )

    def _assistant(
        self, client: openai.OpenAI, corpus: Corpus, store_id: str
    ) -> tuple[str, dict[str, Any]]:
        """The corpus's assistant id, and the corpus state to store when it is new."""
        stored = (corpus.strategy_state.get(self.key) or {}).get("assistant_id")
        if stored:
            try:
                assistant = client.beta.assistants.retrieve(stored)
            except openai.NotFoundError:
                logger.info("corpus %s: assistant %s is gone; replacing it", corpus.pk, stored)
            else:
                if self._drifted(assistant, store_id):
                    client.beta.assistants.update(stored, **self._settings(store_id))
                    logger.info("corpus %s: updated assistant %s", corpus.pk, stored)
                return stored, {}
        # One created before a turn that then failed was never stored: reuse it.
        adopted = self._find(client, corpus, store_id)
        if adopted is None:
            adopted = client.beta.assistants.create(
                name=f"Docent: {corpus.name}"[:256],
                metadata={"docent_corpus_id": str(corpus.pk)},
                **self._settings(store_id),
            ).id
            logger.info("corpus %s: created assistant %s", corpus.pk, adopted)
        return adopted, {"assistant_id": adopted}

    def _settings(self, store_id: str) -> dict[str, Any]:
        return {
            "model": self.model,
            "instructions": FILE_SEARCH_INSTRUCTIONS,
            "tools": [
                {"type": "file_search", "file_search": {"max_num_results": self.max_results}}
            ],
            "tool_resources": {"file_search": {"vector_store_ids": [store_id]}},
        }

    def _drifted(self, assistant: Assistant, store_id: str) -> bool:
        resources = assistant.tool_resources
        stores = (
            resources.file_search.vector_store_ids if resources and resources.file_search else None
        )
        searches = [
            tool.file_search.max_num_results if tool.file_search else None
            for tool in assistant.tools
            if tool.type == "file_search"
        ]
        return (
            assistant.model != self.model
            or assistant.instructions != FILE_SEARCH_INSTRUCTIONS
            or stores != [store_id]
            or searches != [self.max_results]
        )

    def _find(self, client: openai.OpenAI, corpus: Corpus, store_id: str) -> str | None:
        for seen, assistant in enumerate(client.beta.assistants.list(limit=100, order="desc")):
            metadata = assistant.metadata or {}
            if metadata.get("docent_corpus_id") == str(corpus.pk) and not self._drifted(
                assistant, store_id
            ):
                logger.info("corpus %s: reusing assistant %s", corpus.pk, assistant.id)
                return assistant.id
            if seen >= 1000:
                break
        return None

    def _thread(self, client: openai.OpenAI, request: AnswerRequest) -> str:
        """The conversation's thread, holding every turn and now the question."""
        catch_up = remote_backlog(request.history, request.provider_state, id_key="thread_id")
        if catch_up.remote_id is not None:
            try:
                for message in _thread_messages(catch_up.turns, request.question):
                    client.beta.threads.messages.create(
                        catch_up.remote_id, role=message["role"], content=message["content"]
                    )
                return catch_up.remote_id
            except openai.NotFoundError:
                logger.info("corpus %s: thread %s is gone", request.corpus.pk, catch_up.remote_id)
            except openai.BadRequestError as error:
                if "while a run" not in error.message:
                    raise
                # A run that could not be cancelled still holds the thread.
                logger.info("corpus %s: thread %s is busy", request.corpus.pk, catch_up.remote_id)
        thread = client.beta.threads.create(
            messages=_thread_messages(request.history, request.question),
            metadata={"docent_corpus_id": str(request.corpus.pk)},
        )
        logger.info(
            "corpus %s: created thread %s (%s history turns)",
            request.corpus.pk,
            thread.id,
            len(request.history),
        )
        return thread.id

    # --- the run --------------------------------------------------------------------------

    def _stream(
        self, stream: Iterable[AssistantStreamEvent], request: AnswerRequest, run: _RunState
    ) -> Iterator[StrategyEvent]:
        run.cited = cited = CitedFiles(request.corpus)
        shown = AnnotatedText()
        parts: dict[str, SourceMarkerStream] = {}
        files: dict[str, str] = {}  # marker text -> cited file id
        for event in stream:
            if event.event.startswith("thread.run.") and not event.event.startswith(
                "thread.run.step"
            ):
                _track(run, event.data)  # type: ignore[arg-type]
            if event.event == "thread.run.step.completed":
                details = event.data.step_details
                if details.type == "tool_calls":
                    for call in details.tool_calls:
                        if call.type == "file_search":
                            for result in call.file_search.results or []:
                                text = "\n".join(c.text for c in result.content or [] if c.text)
                                cited.add_result(result.file_id, text)
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
                code = error.code if error else None
                reason = error.message if error else "no reason given"
                raise StrategyError(
                    f"The assistant could not answer: {reason}",
                    retryable=code != "invalid_prompt",
                    code="rate_limited" if code == "rate_limit_exceeded" else "provider_error",
                )
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
                raise StrategyError(
                    f"The assistant could not answer: {event.data.message}",
                    retryable=True,
                    code="provider_error",
                )
        raise StrategyError(
            "The answer ended unexpectedly. Try again.", retryable=True, code="incomplete"
        )

    def _translate(self, error: openai.OpenAIError, client: openai.OpenAI) -> StrategyError:
        where = server_name(client)
        if isinstance(error, openai.APIStatusError) and (
            error.status_code == 410
            or (isinstance(error, openai.NotFoundError) and error.code != "model_not_found")
        ):
            # Every Assistants object Docent stores is recreated when it alone is missing, so
            # a 404 that reaches here means the endpoints themselves are gone.
            logger.info("assistants: %s answers 404 (%s)", where, error.request_id or "-")
            return StrategyError(
                f"The Assistants API is not available at {where} (OpenAI shut it down on "
                f"{SHUT_DOWN_ON}). Switch this corpus to File Search; an administrator can move "
                "its conversations there with their history.",
                retryable=False,
                code="api_shut_down",
            )
        service = "OpenAI" if where == "OpenAI" else f"The Assistants server ({where})"
        if type(error) is openai.APIError:
            # An `error` event in the stream.
            return StrategyError(
                f"{service} could not answer: {error.message}",
                retryable=True,
                code="provider_error",
            )
        return translate_openai_error(error, service=service)


@dataclass
class _RunState:
    thread_id: str
    model: str
    id: str = ""
    status: str = ""
    answer: str = ""
    notice: str = ""
    usage: Usage = field(default_factory=Usage)
    cited: CitedFiles | None = None


def _track(run: _RunState, data: Run) -> None:
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


def _cancel(client: openai.OpenAI, run: _RunState) -> None:
    with contextlib.suppress(openai.OpenAIError):
        client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
        logger.info("thread %s: cancelled run %s", run.thread_id, run.id)


def _thread_messages(turns: Iterable[Turn], question: str) -> list[ThreadMessage]:
    messages: list[ThreadMessage] = []
    for message in history_messages(list(turns)):
        role: Literal["user", "assistant"] = "user" if message["role"] == "user" else "assistant"
        messages.append({"role": role, "content": message["content"]})
    messages.append({"role": "user", "content": question})
    return messages


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


# --- 【4:0†source】 markers in streamed text ---------------------------------------------------

# 【message:result†source】: the model's reference to a search result (a dagger always separates
# the source; 【注意】 and other bracketed text is left alone).
_MARKER = re.compile(r"【\d+(?::\d+)?†[^【】\n]{0,200}】")
_PARTIAL = re.compile(r"【(?:\d+(?::\d*)?(?:†[^【】\n]{0,200})?)?")


@dataclass(frozen=True)
class SourceMarker:
    text: str


class SourceMarkerStream:
    """Splits streamed text into text and source markers. A marker can be split across deltas,
    so a possible one is held back until complete, with the whitespace before it (dropped
    along with a marker that cites nothing)."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[str | SourceMarker]:
        self._buffer += text
        pieces: list[str | SourceMarker] = []
        while self._buffer:
            start = self._buffer.find("【")
            if start == -1:
                body = self._buffer.rstrip()
                if body:
                    pieces.append(body)
                self._buffer = self._buffer[len(body) :]
                break
            match = _MARKER.match(self._buffer, start)
            if match:
                if start:
                    pieces.append(self._buffer[:start])
                pieces.append(SourceMarker(match.group()))
                self._buffer = self._buffer[match.end() :]
                continue
            if _PARTIAL.fullmatch(self._buffer, start):
                head = self._buffer[:start].rstrip()
                if head:
                    pieces.append(head)
                self._buffer = self._buffer[len(head) :]
                break
            pieces.append(self._buffer[: start + 1])  # a 【 that starts no marker
            self._buffer = self._buffer[start + 1 :]
        return pieces

    def flush(self) -> list[str | SourceMarker]:
        """What is left at the end of the text; an unfinished marker is dropped."""
        text, self._buffer = self._buffer, ""
        start = text.find("【")
        if start >= 0 and _PARTIAL.fullmatch(text, start):
            text = text[:start].rstrip()
        return [text] if text else []


__all__ = ["AssistantsStrategy", "SourceMarker", "SourceMarkerStream"]

"""File Search: OpenAI answers with the file_search tool over the corpus's vector store
(Responses API, streamed) and keeps the conversation itself (Conversations API, or a chain of
previous_response_id).

OpenAI's file citations carry a file id and a position in the answer text, not a passage. The
answer streams without markers; the final answer gets an [n] marker at each cited position, and
the citation's passage is the search result of that file that shares the most words with the
sentence that cites it, located in the document's page map for a page and offsets.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import openai
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chat.prompts import FILE_SEARCH_INSTRUCTIONS, history_messages
from chat.strategies.base import (
    AnswerDone,
    AnswerRequest,
    Citation,
    CitationFound,
    StrategyError,
    StrategyEvent,
    TextDelta,
    Turn,
    Usage,
)
from chat.strategies.errors import translate_openai_error
from documents.models import Corpus, Document, Page
from documents.passages import PageMap
from documents.providers import ProviderNotConfigured, openai_client

if TYPE_CHECKING:
    from openai.types.responses import (
        EasyInputMessageParam,
        Response,
        ResponseInputItemParam,
        ResponseStreamEvent,
    )
    from openai.types.responses.response_output_item import ResponseOutputItem

logger = logging.getLogger(__name__)

STATES = ("conversation", "previous_response")
# https://platform.openai.com/docs/api-reference/responses/create: 1 to 50 results.
_MAX_RESULTS = 50
# https://platform.openai.com/docs/api-reference/conversations/create: up to 20 items at a time.
_CONVERSATION_SEED_ITEMS = 20
QUOTE_CHARS = 600
PART_SEPARATOR = "\n\n"


class FileSearchStrategy:
    label = "File Search (OpenAI Responses + vector store)"
    index_backend = "openai"
    admin_notice = ""

    def __init__(
        self,
        *,
        key: str,
        model: str = "gpt-4.1-mini",
        state: str = "conversation",
        max_results: int = 8,
        max_output_tokens: int | None = None,
        base_url: str | None = None,
        api_key: str = "",
        client: Any = None,
    ) -> None:
        if state not in STATES:
            raise ImproperlyConfigured(
                f"CHAT_STRATEGIES[{key!r}]: state must be one of {', '.join(STATES)}, "
                f"not {state!r}."
            )
        if not 1 <= max_results <= _MAX_RESULTS:
            raise ImproperlyConfigured(
                f"CHAT_STRATEGIES[{key!r}]: max_results must be between 1 and {_MAX_RESULTS}."
            )
        self.key = key
        self.model = model
        self.state: Literal["conversation", "previous_response"] = (
            "conversation" if state == "conversation" else "previous_response"
        )
        self.max_results = max_results
        self.max_output_tokens = max_output_tokens
        self._clients = ClientCache(base_url=base_url, api_key=api_key, client=client)

    # --- the flow -------------------------------------------------------------------------

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        store_id = corpus_vector_store(request.corpus)
        client = self._clients.get()
        try:
            stream, provider_state = self._start(client, request, store_id)
            with stream:
                yield from self._stream(stream, request, provider_state)
        except openai.OpenAIError as error:
            raise translate_openai_error(error, service="OpenAI") from error

    def _start(
        self, client: openai.OpenAI, request: AnswerRequest, store_id: str
    ) -> tuple[openai.Stream[ResponseStreamEvent], dict[str, Any]]:
        """The response stream, and the provider state that continues it next turn (without
        the response's own id, known once it is created)."""
        id_key = "conversation_id" if self.state == "conversation" else "previous_response_id"
        catch_up = remote_backlog(request.history, request.provider_state, id_key=id_key)
        try:
            return self._create(client, request, store_id, catch_up)
        except (openai.NotFoundError, openai.BadRequestError) as error:
            if catch_up.remote_id is None or not _remote_state_gone(error):
                raise
            # Conversations and stored responses can be deleted or expire at OpenAI; the local
            # history is complete, so a new one seeded with it answers just as well.
            logger.info(
                "corpus %s: %s %s is gone at OpenAI; starting afresh",
                request.corpus.pk,
                id_key,
                catch_up.remote_id,
            )
            return self._create(client, request, store_id, Backlog(None, request.history))

    def _create(
        self, client: openai.OpenAI, request: AnswerRequest, store_id: str, catch_up: Backlog
    ) -> tuple[openai.Stream[ResponseStreamEvent], dict[str, Any]]:
        question: EasyInputMessageParam = {
            "type": "message",
            "role": "user",
            "content": request.question,
        }
        backlog = input_messages(catch_up.turns)
        conversation_id: str | openai.Omit = openai.omit
        previous_id: str | openai.Omit = openai.omit
        if self.state == "conversation":
            if catch_up.remote_id is None:
                seed, backlog = (
                    backlog[:_CONVERSATION_SEED_ITEMS],
                    backlog[_CONVERSATION_SEED_ITEMS:],
                )
                conversation = client.conversations.create(
                    items=seed,
                    metadata={"docent_corpus_id": str(request.corpus.pk)},
                )
                logger.info(
                    "corpus %s: created conversation %s (%s history items)",
                    request.corpus.pk,
                    conversation.id,
                    len(seed),
                )
                conversation_id = conversation.id
            else:
                conversation_id = catch_up.remote_id
            state: dict[str, Any] = {"conversation_id": conversation_id}
        else:
            if catch_up.remote_id is not None:
                previous_id = catch_up.remote_id
            state = {}
        # Turns the remote side lacks go before the question, and into the conversation.
        items: list[ResponseInputItemParam] = [*backlog, question]
        stream = client.responses.create(
            model=self.model,
            instructions=FILE_SEARCH_INSTRUCTIONS,
            input=items,
            tools=[
                {
                    "type": "file_search",
                    "vector_store_ids": [store_id],
                    "max_num_results": self.max_results,
                }
            ],
            include=["file_search_call.results"],
            max_output_tokens=(
                openai.omit if self.max_output_tokens is None else self.max_output_tokens
            ),
            conversation=conversation_id,
            previous_response_id=previous_id,
            # A long conversation drops its oldest turns instead of failing.
            truncation="auto",
            stream=True,
        )
        return stream, state

    def _stream(
        self,
        stream: Iterable[ResponseStreamEvent],
        request: AnswerRequest,
        provider_state: dict[str, Any],
    ) -> Iterator[StrategyEvent]:
        text = AnnotatedText()
        cited = CitedFiles(request.corpus)
        for event in stream:
            if event.type in ("response.output_text.delta", "response.refusal.delta"):
                delta = text.add(f"{event.item_id}:{event.content_index}", event.delta)
                if delta:
                    yield TextDelta(delta)
            elif event.type == "response.output_text.annotation.added":
                annotation = event.annotation
                if annotation is not None and annotation.type == "file_citation":
                    part = f"{event.item_id}:{event.content_index}"
                    yield from _cite(
                        text,
                        cited,
                        part=part,
                        key=f"{part}:{event.annotation_index}",
                        file_id=annotation.file_id,
                        index=annotation.index,
                    )
            elif event.type == "response.output_item.done":
                yield from _output_item(event.item, text, cited)
            elif event.type in ("response.completed", "response.incomplete"):
                yield from self._finish(event.response, text, cited, provider_state, request)
                return
            elif event.type == "response.failed":
                raise _failed(event.response)
            elif event.type == "error":
                raise _stream_error(event.code, event.message)
        raise StrategyError(
            "OpenAI ended the answer unexpectedly. Try again.", retryable=True, code="incomplete"
        )

    def _finish(
        self,
        response: Response,
        text: AnnotatedText,
        cited: CitedFiles,
        provider_state: dict[str, Any],
        request: AnswerRequest,
    ) -> Iterator[StrategyEvent]:
        # Annotations a model only reports with the finished message.
        for item in response.output:
            yield from _output_item(item, text, cited)
        answer = text.final()
        notice = ""
        if response.status == "incomplete":
            reason = response.incomplete_details.reason if response.incomplete_details else None
            notice = _incomplete_notice(reason)
        if self.state == "previous_response":
            provider_state = {"previous_response_id": response.id}
        usage = response.usage
        logger.info(
            "corpus %s: response %s %s with %s citations",
            request.corpus.pk,
            response.id,
            response.status,
            len(cited.citations),
        )
        yield AnswerDone(
            answer=answer,
            citations=tuple(cited.citations),
            usage=Usage(
                prompt_tokens=usage.input_tokens if usage else 0,
                completion_tokens=usage.output_tokens if usage else 0,
                model=response.model or self.model,
            ),
            provider_state={**provider_state, SYNCED: answer_digest(answer)},
            notice=notice,
        )


def _output_item(
    item: ResponseOutputItem, text: AnnotatedText, cited: CitedFiles
) -> Iterator[StrategyEvent]:
    if item.type == "file_search_call":
        for result in item.results or []:
            cited.add_result(result.file_id, result.text)
    elif item.type == "message":
        for content_index, content in enumerate(item.content):
            if content.type != "output_text":
                continue
            part = f"{item.id}:{content_index}"
            missing = text.complete(part, content.text)
            if missing:
                yield TextDelta(missing)
            for number, annotation in enumerate(content.annotations):
                if annotation.type == "file_citation":
                    yield from _cite(
                        text,
                        cited,
                        part=part,
                        key=f"{part}:{number}",
                        file_id=annotation.file_id,
                        index=annotation.index,
                    )


def _cite(
    text: AnnotatedText, cited: CitedFiles, *, part: str, key: str, file_id: str, index: int
) -> Iterator[CitationFound]:
    if not text.first_sight(key):
        return
    found = cited.cite(file_id, context=text.before(part, index))
    if found is None:
        return  # a file of another corpus, or one Docent does not know: no citation
    number, new = found
    text.mark(part, index, number)
    if new is not None:
        yield CitationFound(new)


def _failed(response: Response) -> StrategyError:
    error = response.error
    if error is None:
        return StrategyError("OpenAI could not answer. Try again.", retryable=True, code="failed")
    return _stream_error(error.code, error.message)


def _stream_error(code: str | None, message: str) -> StrategyError:
    retryable = code in (None, "server_error", "rate_limit_exceeded", "vector_store_timeout")
    return StrategyError(
        f"OpenAI could not answer: {message}",
        retryable=retryable,
        code="rate_limited" if code == "rate_limit_exceeded" else "provider_error",
    )


def _incomplete_notice(reason: str | None) -> str:
    if reason == "max_output_tokens":
        return "The answer was cut short: it reached the length limit."
    if reason == "content_filter":
        return "The answer was cut short by OpenAI's content filter."
    return "The answer was cut short."


def _remote_state_gone(error: openai.APIStatusError) -> bool:
    if isinstance(error, openai.NotFoundError):
        body = error.body if isinstance(error.body, dict) else {}
        return "conversation" in f"{body.get('param')} {error.message}".lower()
    return error.code == "previous_response_not_found"


# --- shared with the Assistants strategy: clients, remote state, citations ------------------


class ClientCache:
    """The OpenAI client a strategy uses: the injected one, or one built on first use and
    rebuilt when the OpenAI settings change (one strategy instance serves the process)."""

    def __init__(self, *, base_url: str | None, api_key: str, client: Any) -> None:
        self.base_url = base_url or None
        self._api_key = api_key
        self._injected = client
        self._client: openai.OpenAI | None = None
        self._settings: tuple[Any, ...] = ()

    def get(self) -> openai.OpenAI:
        if self._injected is not None:
            return self._injected  # type: ignore[no-any-return]
        current = (
            self.base_url or settings.OPENAI_BASE_URL,
            self._api_key or settings.OPENAI_API_KEY,
            settings.OPENAI_TIMEOUT_SECONDS,
            settings.OPENAI_MAX_RETRIES,
        )
        if self._client is None or current != self._settings:
            try:
                self._client = openai_client(base_url=self.base_url, api_key=self._api_key)
            except ProviderNotConfigured as error:
                raise StrategyError(str(error), retryable=False, code="not_configured") from error
            self._settings = current
        return self._client


def corpus_vector_store(corpus: Corpus) -> str:
    """The corpus's vector store id; refused plainly while no document was ever indexed."""
    store_id = corpus.vector_store_id or (
        Corpus.objects.filter(pk=corpus.pk).values_list("vector_store_id", flat=True).first()
    )
    if not store_id:
        raise StrategyError(
            f"“{corpus.name}” has no documents indexed at OpenAI yet. Upload a document, wait "
            "until it is ready, then ask again.",
            retryable=False,
            code="not_indexed",
        )
    return store_id


# The provider-state key holding a digest of the last answer the remote side has seen.
SYNCED = "synced"


def answer_digest(answer: str) -> str:
    return hashlib.sha256(answer.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Backlog:
    remote_id: str | None  # the remote conversation to continue; None: start a new one
    turns: tuple[Turn, ...]  # local turns the remote side lacks, to send before the question


def remote_backlog(
    history: tuple[Turn, ...], provider_state: dict[str, Any], *, id_key: str
) -> Backlog:
    """What a remote conversation lacks of the local history.

    A conversation can change strategy and come back; the turns other strategies answered
    meanwhile are only in the local history. The provider state records a digest of the last
    answer the remote side saw, which finds where it stopped.
    """
    remote_id = provider_state.get(id_key)
    if not isinstance(remote_id, str) or not remote_id:
        return Backlog(None, history)
    synced = provider_state.get(SYNCED)
    if synced is None or not history:
        return Backlog(remote_id, ())
    for index in range(len(history) - 1, -1, -1):
        if answer_digest(history[index].answer) == synced:
            return Backlog(remote_id, history[index + 1 :])
    # It stopped before the history we keep: start afresh with what we have.
    return Backlog(None, history)


def input_messages(turns: Sequence[Turn]) -> list[EasyInputMessageParam]:
    messages: list[EasyInputMessageParam] = []
    for message in history_messages(turns):
        role: Literal["user", "assistant"] = "user" if message["role"] == "user" else "assistant"
        messages.append({"type": "message", "role": role, "content": message["content"]})
    return messages


class AnnotatedText:
    """The answer as it streams, in parts (one per output text), and the [n] marks to put
    at positions in them. The streamed text and the final answer differ only by the marks."""

    def __init__(self) -> None:
        self._parts: dict[str, list[str]] = {}
        self._marks: dict[str, list[tuple[int, int]]] = {}
        self._seen: set[str] = set()

    def add(self, part: str, delta: str) -> str:
        """Record a delta of `part`; returns what to stream (a new part is set apart)."""
        if not delta:
            return ""
        separate = part not in self._parts and any(self._parts.values())
        self._parts.setdefault(part, []).append(delta)
        return PART_SEPARATOR + delta if separate else delta

    def complete(self, part: str, full: str) -> str:
        """The finished text of `part`: streams whatever the deltas missed."""
        current = self.text(part)
        if len(full) > len(current) and full.startswith(current):
            return self.add(part, full[len(current) :])
        return ""

    def text(self, part: str) -> str:
        return "".join(self._parts.get(part, []))

    def before(self, part: str, index: int) -> str:
        return self.text(part)[: max(0, index)]

    def first_sight(self, key: str) -> bool:
        """True the first time an annotation is seen (events and final output repeat it)."""
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def mark(self, part: str, index: int, number: int) -> None:
        self._marks.setdefault(part, []).append((index, number))

    def final(self) -> str:
        texts = []
        for part in self._parts:
            text = self.text(part)
            if text:
                texts.append(_with_marks(text, self._marks.get(part, [])))
        return PART_SEPARATOR.join(texts)


def _with_marks(text: str, marks: list[tuple[int, int]]) -> str:
    at: dict[int, list[int]] = {}
    for index, number in marks:
        position = min(max(index, 0), len(text))
        # A position inside a word (a model off by a character) moves to the word's end.
        while (
            0 < position < len(text) and text[position - 1].isalnum() and text[position].isalnum()
        ):
            position += 1
        numbers = at.setdefault(position, [])
        if number not in numbers:
            numbers.append(number)
    for position in sorted(at, reverse=True):
        text = text[:position] + "".join(f"[{n}]" for n in at[position]) + text[position:]
    return text


class CitedFiles:
    """The file citations of one answer, as numbered Citations of the corpus's documents.

    A cited file is mapped to this corpus's document by its OpenAI file id; citations of other
    files are dropped. The passage is the search result of that file sharing the most words
    with the citing sentence, trimmed around its best sentence; without results for the file,
    the best paragraph of the document's own pages stands in. Numbers follow first citation.
    """

    def __init__(self, corpus: Corpus) -> None:
        self._corpus = corpus
        self._documents: dict[str, Document | None] = {}
        self._pages: dict[int, list[Page]] = {}
        self._maps: dict[int, PageMap] = {}
        self._results: dict[str, list[str]] = {}
        self._numbers: dict[tuple[int, str], int] = {}
        self.citations: list[Citation] = []

    def add_result(self, file_id: str | None, text: str | None) -> None:
        if file_id and text and text.strip():
            texts = self._results.setdefault(file_id, [])
            if text not in texts:
                texts.append(text)

    def cite(self, file_id: str | None, *, context: str) -> tuple[int, Citation | None] | None:
        """(number, the citation if it is new), or None when the file is not the corpus's."""
        document = self._document(file_id or "")
        if document is None:
            return None
        words = _words(cited_sentence(context))
        quote = self._passage(document, file_id or "", words)
        key = (document.pk, quote)
        if key in self._numbers:
            return self._numbers[key], None
        if document.pk not in self._maps:
            self._maps[document.pk] = PageMap(self._document_pages(document))
        where = self._maps[document.pk].locate(quote)
        citation = Citation(
            number=len(self.citations) + 1,
            document_id=document.pk,
            document=document.filename,
            page=where.page_start if where else None,
            page_end=where.page_end if where else None,
            quote=quote,
            char_start=where.char_start if where else None,
            char_end=where.char_end if where else None,
        )
        self.citations.append(citation)
        self._numbers[key] = citation.number
        return citation.number, citation

    def _document(self, file_id: str) -> Document | None:
        if not file_id:
            return None
        if file_id not in self._documents:
            self._documents[file_id] = (
                Document.objects.filter(corpus=self._corpus, remote_file_id=file_id)
                .only("pk", "filename", "remote_file_id")
                .first()
            )
        return self._documents[file_id]

    def _document_pages(self, document: Document) -> list[Page]:
        if document.pk not in self._pages:
            self._pages[document.pk] = list(document.pages.all())
        return self._pages[document.pk]

    def _passage(self, document: Document, file_id: str, words: set[str]) -> str:
        candidates = self._results.get(file_id) or [
            paragraph
            for page in self._document_pages(document)
            for paragraph in re.split(r"\n\s*\n", page.text)
            if paragraph.strip()
        ]
        if not candidates:
            return document.filename
        best = max(candidates, key=lambda text: len(words & _words(text)))
        return excerpt(best, words)


_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
_TRAILING_MARKS = re.compile(r"(?:\s*\[\d+\])+\s*$")
_WORD = re.compile(r"[^\W_]+")
_STOPWORD_TEXT = (
    "the and for are with that this from was were has have had been will its not but you your "
    "they their there what when which who how can may must per any all also into than then "
    "according"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _words(text: str) -> set[str]:
    return {
        word
        for word in (match.lower() for match in _WORD.findall(text))
        if len(word) > 2 and word not in _STOPWORDS
    }


def cited_sentence(text: str) -> str:
    """The sentence that ends `text` (with the one before if it is very short)."""
    text = _TRAILING_MARKS.sub("", text).rstrip()
    pieces = [piece for piece in _SENTENCE_BREAK.split(text) if piece.strip()]
    if not pieces:
        return ""
    sentence = pieces[-1]
    if len(sentence.split()) < 4 and len(pieces) > 1:
        sentence = f"{pieces[-2]} {sentence}"
    return sentence


def excerpt(text: str, words: set[str], limit: int = QUOTE_CHARS) -> str:
    """`text`, or when longer than `limit` the run of whole sentences around the one sharing
    the most of `words`."""
    text = text.strip()
    if len(text) <= limit:
        return text
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_BREAK.finditer(text):
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    best = max(range(len(spans)), key=lambda i: len(words & _words(text[slice(*spans[i])])))
    low = high = best
    grew = True
    while grew:
        grew = False
        if high + 1 < len(spans) and spans[high + 1][1] - spans[low][0] <= limit:
            high, grew = high + 1, True
        if low > 0 and spans[high][1] - spans[low - 1][0] <= limit:
            low, grew = low - 1, True
    begin, end = spans[low][0], spans[high][1]
    if end - begin > limit:  # one sentence longer than the limit
        cut = text.rfind(" ", begin, begin + limit)
        end = cut if cut > begin else begin + limit
    return text[begin:end].strip()


__all__ = ["FileSearchStrategy"]

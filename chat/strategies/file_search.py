"""File Search: OpenAI answers with the file_search tool over the corpus's vector store
(Responses API, streamed) and keeps the conversation itself (Conversations API, or a chain of
previous_response_id).

The file_search results (requested with `include=["file_search_call.results"]`) are the
passages the answer was given: each is mapped to the corpus's document by its file id and
located on the document's pages, and kept as the answer's provenance as soon as the search is
done. OpenAI's file citations carry a file id and a position in the answer text, not a passage.
The answer streams without markers; the final answer gets an [n] marker at each cited position, and
the citation's passage is the search result of that file that shares the most words with the
sentence that cites it, located in the document's page map for a page and offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import openai
from django.core.exceptions import ImproperlyConfigured

from chat.prompts import FILE_SEARCH_INSTRUCTIONS, history_messages, is_refusal
from chat.strategies.base import (
    AnswerDone,
    AnswerRequest,
    CitationFound,
    PassagesFound,
    StrategyError,
    StrategyEvent,
    TextDelta,
    Turn,
    Usage,
)
from chat.strategies.errors import answer_failed, translate_openai_error
from chat.strategies.remote import (
    SYNCED,
    AnnotatedText,
    Backlog,
    CitedFiles,
    answer_digest,
    remote_backlog,
    store_and_client,
)
from documents.backends.base import RemoteStoreBackend
from documents.providers import ProviderClient, reported_failure

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


class FileSearchStrategy:
    label = "File Search (OpenAI Responses + vector store)"
    requires = (RemoteStoreBackend,)
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
        self._provider = ProviderClient(base_url=base_url, api_key=api_key, client=client)

    # --- the flow -------------------------------------------------------------------------

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        store_id, client = store_and_client(corpus=request.corpus, provider=self._provider)
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
                yield from _output_item(event.item, text, cited, max_results=self.max_results)
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
            yield from _output_item(item, text, cited, max_results=self.max_results)
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
            # The model was told to say it in these words when the files do not cover it.
            grounded=not (is_refusal(answer) and not cited.citations),
            passages=tuple(cited.passages),
            retrieval=_retrieval(cited, self.max_results),
        )


def _retrieval(cited: CitedFiles, max_results: int) -> dict[str, Any]:
    return {"queries": list(cited.queries), "top_k": max_results, "searched_by": "file_search"}


def _output_item(
    item: ResponseOutputItem, text: AnnotatedText, cited: CitedFiles, *, max_results: int
) -> Iterator[StrategyEvent]:
    if item.type == "file_search_call":
        # The results come with the call because the request includes file_search_call.results.
        new = [cited.add_result(r.file_id, r.text, score=r.score) for r in item.results or []]
        queries = [query for query in item.queries or [] if query not in cited.queries]
        cited.queries.extend(queries)
        if any(new) or queries:
            yield PassagesFound(
                passages=tuple(cited.passages), retrieval=_retrieval(cited, max_results)
            )
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
    return answer_failed(reported_failure(code=code, message=message), who="OpenAI")


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


def input_messages(turns: Sequence[Turn]) -> list[EasyInputMessageParam]:
    messages: list[EasyInputMessageParam] = []
    for message in history_messages(turns):
        role: Literal["user", "assistant"] = "user" if message["role"] == "user" else "assistant"
        messages.append({"type": "message", "role": role, "content": message["content"]})
    return messages

"""The Assistants strategy: the corpus's assistant, the conversation's thread, and a run per
question (streamed by chat.strategies.assistants.run)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, Literal

import openai

from chat.prompts import FILE_SEARCH_INSTRUCTIONS, history_messages, is_refusal
from chat.strategies.assistants.run import ACTIVE, RunState, cancel, stream_run
from chat.strategies.base import AnswerDone, AnswerRequest, StrategyError, StrategyEvent, Turn
from chat.strategies.errors import answer_failed, server_name, strategy_error
from chat.strategies.remote import SYNCED, answer_digest, remote_backlog, store_and_client
from documents.backends.base import RemoteStoreBackend
from documents.providers import ProviderClient, classify

if TYPE_CHECKING:
    from openai.types.beta import Assistant
    from openai.types.beta.thread_create_params import Message as ThreadMessage

    from documents.models import Corpus

logger = logging.getLogger(__name__)

SHUT_DOWN_ON = "2026-08-26"
# Asks the run's file_search step to carry the text of its results (not only their file ids).
RESULTS_INCLUDE: Final = "step_details.tool_calls[*].file_search.results[*].content"


class AssistantsStrategy:
    label = "Assistants threads (legacy)"
    requires = (RemoteStoreBackend,)
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
        self._provider = ProviderClient(base_url=base_url, api_key=api_key, client=client)

    # --- the flow -------------------------------------------------------------------------

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        store_id, client = store_and_client(corpus=request.corpus, provider=self._provider)
        try:
            assistant_id, corpus_state = self._assistant(client, request.corpus, store_id)
            thread_id = self._thread(client, request)
            stream = client.beta.threads.runs.create(
                thread_id, assistant_id=assistant_id, include=[RESULTS_INCLUDE], stream=True
            )
            run = RunState(thread_id=thread_id, model=self.model)
            with stream:
                try:
                    yield from stream_run(stream, request=request, run=run)
                finally:
                    if run.id and run.status in ACTIVE:
                        # Stopped by the user or cut off: a thread with an active run refuses
                        # the next question, so the run is cancelled (best effort).
                        cancel(client=client, run=run)
        except openai.OpenAIError as error:
            raise self._translate(error, client) from error
        yield AnswerDone(
            answer=run.answer,
            citations=tuple(run.cited.citations if run.cited else ()),
            usage=run.usage,
            provider_state={"thread_id": thread_id, SYNCED: answer_digest(run.answer)},
            corpus_state=corpus_state,
            notice=run.notice,
            grounded=not (is_refusal(run.answer) and not (run.cited and run.cited.citations)),
            passages=tuple(run.cited.passages if run.cited else ()),
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

    def _translate(self, error: openai.OpenAIError, client: openai.OpenAI) -> StrategyError:
        where = server_name(client)
        failure = classify(error)
        if failure.status == 410 or (
            failure.kind == "not_found" and failure.code != "model_not_found"
        ):
            # Every Assistants object Docent stores is recreated when it alone is missing, so
            # a 404 that reaches here means the endpoints themselves are gone.
            logger.info(
                "assistants: %s answers %s (%s)",
                where,
                failure.status,
                getattr(error, "request_id", None) or "-",
            )
            return StrategyError(
                f"The Assistants API is not available at {where} (OpenAI shut it down on "
                f"{SHUT_DOWN_ON}). Switch this corpus to File Search; an administrator can move "
                "its conversations there with their history.",
                retryable=False,
                code="api_shut_down",
            )
        service = "OpenAI" if where == "OpenAI" else f"The Assistants server ({where})"
        if type(error) is openai.APIError:
            # The SDK raises an `error` event of the run's stream as a bare APIError.
            return answer_failed(failure, who=service)
        return strategy_error(failure, service=service)


def _thread_messages(turns: Iterable[Turn], question: str) -> list[ThreadMessage]:
    messages: list[ThreadMessage] = []
    for message in history_messages(list(turns)):
        role: Literal["user", "assistant"] = "user" if message["role"] == "user" else "assistant"
        messages.append({"role": role, "content": message["content"]})
    messages.append({"role": "user", "content": question})
    return messages

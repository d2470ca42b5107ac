"""Manual retrieval: hybrid search in the local index, then any OpenAI-compatible Chat
Completions server writes a cited answer. With no model configured, the answer is extractive:
the sentences that best match the question, each cited, clearly labelled as such."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import openai

from chat.prompts import answer_messages, is_refusal, rewrite_messages
from chat.strategies.base import (
    AnswerDone,
    AnswerRequest,
    Citation,
    CitationFound,
    PassagesFound,
    StrategyError,
    StrategyEvent,
    TextDelta,
    Turn,
    Usage,
)
from chat.strategies.errors import server_name, strategy_client, translate_openai_error
from chat.strategies.markers import CitationMarkerStream
from documents.backends.base import IndexingError, Searchable, SearchHit
from documents.models import Corpus
from documents.retrieval import Quote, Retrieval, best_quotes, retrieve

logger = logging.getLogger(__name__)

NOT_FOUND_NOTICE = (
    "Not found in the documents: the passages shown came nearest to the question but do not "
    "seem to answer it."
)
EXTRACTIVE_NOTICE = (
    "Extractive answer: no language model is configured, so these are the passages that best "
    "match the question, quoted from the documents."
)
# Words that make a question lean on the previous one ("and what about it?").
_FOLLOW_UP = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|him|her|there|also|same|"
    r"what about|how about|and)\b",
    re.IGNORECASE,
)


class ManualRetrievalStrategy:
    label = "Manual retrieval (local search + any chat model)"
    requires = (Searchable,)
    admin_notice = ""

    def __init__(
        self,
        *,
        key: str,
        base_url: str | None = None,
        api_key: str = "",
        model: str = "",
        top_k: int = 6,
        temperature: float = 0.1,
        client: Any = None,
    ) -> None:
        self.key = key
        self.model = model
        self.top_k = top_k
        self.temperature = temperature
        self._base_url = base_url
        self._api_key = api_key
        self._client = client

    # --- the flow -------------------------------------------------------------------------

    def answer(self, request: AnswerRequest) -> Iterator[StrategyEvent]:
        usage = Usage(model=self.model or "extractive")
        query, usage = self._search_query(request, usage)
        retrieval = self._search(request.corpus, query)
        hits = list(retrieval.hits)
        found = PassagesFound(passages=tuple(hits), retrieval=_provenance(retrieval))
        yield found
        if not hits:
            events = self._nothing_found(request.corpus, usage)
        elif retrieval.supported is False:
            # Nothing retrieved is close enough to answer from: say so, and show what came
            # nearest for the reader to judge (no model is asked to answer from it).
            events = self._extract(request, query, hits, supported=False)
        elif self.model:
            events = self._generate(request, hits, usage)
        else:
            events = self._extract(request, query, hits, supported=True)
        try:
            for event in events:
                if isinstance(event, AnswerDone):
                    event = replace(event, passages=found.passages, retrieval=found.retrieval)
                yield event
        finally:
            events.close()  # as `yield from` would: a stopped answer closes the model's stream

    def _search(self, corpus: Corpus, query: str) -> Retrieval:
        try:
            return retrieve(corpus=corpus, query=query, k=self.top_k)
        except IndexingError as error:
            raise StrategyError(str(error), retryable=error.retryable, code="search") from error

    def _search_query(self, request: AnswerRequest, usage: Usage) -> tuple[str, Usage]:
        """Follow-up questions ("and in 2023?") are searched with what the history implies."""
        if not request.history:
            return request.question, usage
        if self.model:
            completion = self._complete(
                rewrite_messages(question=request.question, history=request.history[-4:]),
                max_tokens=80,
            )
            query = (completion.choices[0].message.content or "").strip() or request.question
            return query, _add_usage(usage, completion.usage)
        return heuristic_query(request.question, request.history), usage

    # --- with a language model --------------------------------------------------------------

    def _openai(self) -> Any:
        from documents.providers import ProviderClient

        # Looked up on every use: the shared client changes with the OPENAI_* settings.
        provider = ProviderClient(
            base_url=self._base_url, api_key=self._api_key, client=self._client
        )
        return strategy_client(provider)

    def _service(self) -> str:
        name = server_name(self._openai())
        return name if name == "OpenAI" else f"The language model server ({name})"

    def _complete(self, messages: list[dict[str, str]], *, max_tokens: int) -> Any:
        try:
            return self._openai().chat.completions.create(
                model=self.model, messages=messages, temperature=0, max_tokens=max_tokens
            )
        except openai.OpenAIError as error:
            raise translate_openai_error(error, service=self._service()) from error

    def _generate(
        self, request: AnswerRequest, hits: list[SearchHit], usage: Usage
    ) -> Iterator[StrategyEvent]:
        messages = answer_messages(question=request.question, hits=hits, history=request.history)
        markers = CitationMarkerStream(valid=set(range(1, len(hits) + 1)))
        citations: list[Citation] = []
        parts: list[str] = []
        try:
            stream = self._openai().chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=self.temperature,
                stream=True,
                stream_options={"include_usage": True},
            )
            for chunk in stream:
                if chunk.usage is not None:
                    usage = _add_usage(usage, chunk.usage)
                for choice in chunk.choices:
                    text = markers.feed(choice.delta.content or "")
                    if text:
                        parts.append(text)
                        yield TextDelta(text)
                    yield from _new_citations(markers, hits, citations)
        except openai.OpenAIError as error:
            raise translate_openai_error(error, service=self._service()) from error
        tail = markers.flush()
        if tail:
            parts.append(tail)
            yield TextDelta(tail)
        answer = "".join(parts).strip()
        yield AnswerDone(
            answer=answer,
            citations=tuple(citations),
            usage=usage,
            grounded=not (is_refusal(answer) and not citations),
        )

    # --- without one: extractive ------------------------------------------------------------

    def _extract(
        self, request: AnswerRequest, query: str, hits: list[SearchHit], *, supported: bool
    ) -> Iterator[StrategyEvent]:
        # A follow-up shows what is new: sentences the previous answer quoted are left out.
        previous = [request.history[-1].answer] if request.history else []
        picked = best_quotes(
            request.corpus, request.question, hits[:4], context=query, exclude=previous
        )
        if not picked and previous:
            picked = best_quotes(request.corpus, request.question, hits[:4], context=query)
        if supported:
            header = "**From the documents** (quoted; no language model is configured):\n\n"
        else:
            header = (
                f"I could not find this in the documents of “{request.corpus.name}”.\n\n"
                "**Possibly related** (these passages came nearest, but may not answer the "
                "question):\n\n"
            )
        yield TextDelta(header)
        parts = [header]
        citations: list[Citation] = []
        for document, quotes in _by_document(picked):
            heading = f"*{document}*\n\n" if len({q.hit.document_id for q in picked}) > 1 else ""
            lines = [heading] if heading else []
            for quote in quotes:
                citation = _quote_citation(quote, number=len(citations) + 1)
                citations.append(citation)
                lines.append(f"- “{quote.text}” [{citation.number}]\n")
            if parts[-1].endswith("]\n"):
                lines.insert(0, "\n")
            for line in lines:
                parts.append(line)
                yield TextDelta(line)
            for citation in citations[len(citations) - len(quotes) :]:
                yield CitationFound(citation)
        yield AnswerDone(
            answer="".join(parts).strip(),
            citations=tuple(citations),
            usage=Usage(model="extractive" if not self.model else self.model),
            notice=EXTRACTIVE_NOTICE if supported else NOT_FOUND_NOTICE,
            grounded=supported,
        )

    def _nothing_found(self, corpus: Corpus, usage: Usage) -> Iterator[StrategyEvent]:
        text = (
            f"I could not find anything about this in the documents of “{corpus.name}”. Try "
            "other words, or check that the documents you need are uploaded and ready."
        )
        yield TextDelta(text)
        yield AnswerDone(answer=text, citations=(), usage=usage, grounded=False)


def _provenance(retrieval: Retrieval) -> dict[str, Any]:
    return {
        "query": retrieval.query,
        "top_k": retrieval.k,
        "confidence": retrieval.confidence,
        "supported": retrieval.supported,
        "stages": retrieval.trace,
    }


def heuristic_query(question: str, history: Sequence[Turn]) -> str:
    """Without a model to rewrite it, a short or referring follow-up is searched together with
    the previous question."""
    if history and (len(question.split()) < 6 or _FOLLOW_UP.search(question)):
        return f"{history[-1].question} {question}"
    return question


def _by_document(quotes: Sequence[Quote]) -> list[tuple[str, list[Quote]]]:
    """Quotes grouped by document, documents in the order of their best quote (quotes come
    best first), each document's quotes best first."""
    groups: dict[int, tuple[str, list[Quote]]] = {}
    for quote in quotes:
        groups.setdefault(quote.hit.document_id, (quote.hit.document, []))[1].append(quote)
    return list(groups.values())


def _quote_citation(quote: Quote, *, number: int) -> Citation:
    return Citation(
        number=number,
        document_id=quote.hit.document_id,
        document=quote.hit.document,
        page=quote.page,
        page_end=quote.page,
        quote=quote.text,
        chunk_id=quote.hit.chunk_id,
        char_start=quote.char_start,
        char_end=quote.char_end,
    )


def _passage_citation(hit: SearchHit, *, number: int) -> Citation:
    return Citation(
        number=number,
        document_id=hit.document_id,
        document=hit.document,
        page=hit.page_start,
        page_end=hit.page_end,
        quote=hit.text,
        chunk_id=hit.chunk_id,
        char_start=hit.char_start,
        char_end=hit.char_end,
    )


def _new_citations(
    markers: CitationMarkerStream, hits: list[SearchHit], citations: list[Citation]
) -> Iterator[CitationFound]:
    while len(citations) < len(markers.used):
        number = len(citations) + 1
        hit = hits[markers.used[number - 1] - 1]
        citation = _passage_citation(hit, number=number)
        citations.append(citation)
        yield CitationFound(citation)


def _add_usage(usage: Usage, extra: Any) -> Usage:
    if extra is None:
        return usage
    return Usage(
        prompt_tokens=usage.prompt_tokens + (getattr(extra, "prompt_tokens", 0) or 0),
        completion_tokens=usage.completion_tokens + (getattr(extra, "completion_tokens", 0) or 0),
        model=usage.model,
    )

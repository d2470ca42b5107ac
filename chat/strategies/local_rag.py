"""Manual retrieval: hybrid search in the local index, then any OpenAI-compatible Chat
Completions server writes a cited answer. With no model configured, the answer is extractive:
the sentences that best match the question, each cited, clearly labelled as such."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import openai

from chat.prompts import answer_messages, rewrite_messages
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
from chat.strategies.errors import server_name, translate_openai_error
from chat.strategies.markers import CitationMarkerStream
from documents.backends.base import IndexingError, SearchHit
from documents.backends.embeddings import get_embedder
from documents.models import Corpus, Page
from documents.services import corpus_search

logger = logging.getLogger(__name__)

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
# Sentences scoring this much (cosine) below the best are left out of an extractive answer.
_EXTRACT_SCORE_MARGIN = 0.15
# A sentence ends at . ! ? before a capital or digit, and at line breaks, except a break
# between two lower-case words (or after a comma): PDFs break lines inside sentences, while
# spreadsheet rows, list items and headings each have a line of their own.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])\s+(?=[\"“(\[]?[A-Z0-9])|\n\s*\n\s*|(?<![a-z,])\n\s*|\n(?![ \t]*[a-z])\s*"
)


class ManualRetrievalStrategy:
    label = "Manual retrieval (local search + any chat model)"
    index_backend = "pgvector"
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
        hits = self._search(request.corpus, query)
        if not hits:
            yield from self._nothing_found(request.corpus, usage)
        elif self.model:
            yield from self._generate(request, hits, usage)
        else:
            yield from self._extract(request.corpus, request.question, query, hits)

    def _search(self, corpus: Corpus, query: str) -> list[SearchHit]:
        try:
            return corpus_search(corpus=corpus, query=query, k=self.top_k)
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
        if self._client is None:
            from documents.providers import ProviderNotConfigured, openai_client

            try:
                self._client = openai_client(base_url=self._base_url, api_key=self._api_key)
            except ProviderNotConfigured as error:
                raise StrategyError(str(error), retryable=False, code="not_configured") from error
        return self._client

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
        yield AnswerDone(answer="".join(parts).strip(), citations=tuple(citations), usage=usage)

    # --- without one: extractive ------------------------------------------------------------

    def _extract(
        self, corpus: Corpus, question: str, query: str, hits: list[SearchHit]
    ) -> Iterator[StrategyEvent]:
        picked = best_sentences(corpus, question, hits[:4], context=query)
        header = "**From the documents** (quoted; no language model is configured):\n\n"
        yield TextDelta(header)
        parts = [header]
        citations: list[Citation] = []
        for number, (hit, sentence, offset) in enumerate(picked, start=1):
            citation = _citation(hit, number=number, quote=sentence, offset=offset)
            citations.append(citation)
            line = f"- “{sentence}” [{number}]\n"
            parts.append(line)
            yield TextDelta(line)
            yield CitationFound(citation)
        yield AnswerDone(
            answer="".join(parts).strip(),
            citations=tuple(citations),
            usage=Usage(model="extractive"),
            notice=EXTRACTIVE_NOTICE,
        )

    def _nothing_found(self, corpus: Corpus, usage: Usage) -> Iterator[StrategyEvent]:
        text = (
            f"I could not find anything about this in the documents of “{corpus.name}”. Try "
            "other words, or check that the documents you need are uploaded and ready."
        )
        yield TextDelta(text)
        yield AnswerDone(answer=text, citations=(), usage=usage)


def heuristic_query(question: str, history: Sequence[Turn]) -> str:
    """Without a model to rewrite it, a short or referring follow-up is searched together with
    the previous question."""
    if history and (len(question.split()) < 6 or _FOLLOW_UP.search(question)):
        return f"{history[-1].question} {question}"
    return question


def best_sentences(
    corpus: Corpus,
    question: str,
    hits: Sequence[SearchHit],
    limit: int = 3,
    context: str | None = None,
) -> list[tuple[SearchHit, str, int]]:
    """The sentences of the top passages closest to the query (cosine, same embedding model),
    best first, at most two per passage, none far below the best."""
    candidates: list[tuple[int, SearchHit, str, int]] = []
    for rank, hit in enumerate(hits):
        for sentence, offset in split_sentences(hit.text):
            if len(sentence.split()) >= 4:
                candidates.append((rank, hit, sentence, offset))
    if not candidates:
        return [(hit, hit.text.strip(), 0) for hit in hits[:limit]]
    embedder = get_embedder(corpus.embedding_model)
    vectors = embedder.embed([c[2] for c in candidates]).vectors
    scores = vectors @ embedder.embed_query(question)
    if context and context != question:
        # A follow-up is judged mostly by its own words, partly by what it continues.
        scores = 0.6 * scores + 0.4 * (vectors @ embedder.embed_query(context))
    # A small prior for the fused search rank keeps the best passage in the answer.
    scores = scores - 0.02 * np.array([c[0] for c in candidates])
    chosen: list[int] = []
    per_hit: dict[int, int] = {}
    floor = float(scores.max()) - _EXTRACT_SCORE_MARGIN
    for index in np.argsort(-scores):
        rank = candidates[index][0]
        if scores[index] < floor or len(chosen) == limit:
            break
        if per_hit.get(rank, 0) < 2:
            chosen.append(int(index))
            per_hit[rank] = per_hit.get(rank, 0) + 1
    return [(candidates[i][1], candidates[i][2], candidates[i][3]) for i in chosen]


def split_sentences(text: str) -> list[tuple[str, int]]:
    """(sentence, offset in text) pairs."""
    pieces: list[tuple[str, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        _append_piece(pieces, text, start, match.start())
        start = match.end()
    _append_piece(pieces, text, start, len(text))
    return pieces


def _append_piece(pieces: list[tuple[str, int]], text: str, start: int, end: int) -> None:
    raw = text[start:end]
    stripped = raw.strip().lstrip("-*•# ").strip()
    if stripped:
        pieces.append((stripped, start + raw.find(stripped)))


def _citation(hit: SearchHit, *, number: int, quote: str, offset: int | None = None) -> Citation:
    char_start, char_end, page = hit.char_start, hit.char_end, hit.page_start
    if offset is not None and hit.char_start is not None:
        char_start = hit.char_start + offset
        char_end = char_start + len(quote)
        if hit.page_start != hit.page_end:
            page = _page_at(hit.document_id, char_start) or hit.page_start
    return Citation(
        number=number,
        document_id=hit.document_id,
        document=hit.document,
        page=page,
        page_end=hit.page_end if offset is None else page,
        quote=quote,
        chunk_id=hit.chunk_id,
        char_start=char_start,
        char_end=char_end,
    )


def _page_at(document_id: int, offset: int) -> int | None:
    return (
        Page.objects.filter(document_id=document_id, char_start__lte=offset)
        .order_by("-char_start")
        .values_list("number", flat=True)
        .first()
    )


def _new_citations(
    markers: CitationMarkerStream, hits: list[SearchHit], citations: list[Citation]
) -> Iterator[CitationFound]:
    while len(citations) < len(markers.used):
        number = len(citations) + 1
        hit = hits[markers.used[number - 1] - 1]
        citation = _citation(hit, number=number, quote=hit.text)
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

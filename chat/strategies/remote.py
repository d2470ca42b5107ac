"""Shared by the strategies that answer from OpenAI vector stores (File Search, Assistants):
the vector store, remote conversation state and turning file citations into page-level
citations of our documents."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chat.strategies.base import Citation, StrategyError, Turn
from chat.strategies.errors import strategy_client
from documents.backends.base import SearchHit
from documents.models import Corpus, Document, Page
from documents.passages import PageMap

if TYPE_CHECKING:
    import openai

    from documents.providers import ProviderClient

logger = logging.getLogger(__name__)

QUOTE_CHARS = 600
PART_SEPARATOR = "\n\n"


def store_and_client(*, corpus: Corpus, provider: ProviderClient) -> tuple[str, openai.OpenAI]:
    """What a remote strategy needs before its first call: the corpus's vector store id and
    the client to ask (refused plainly when either is missing)."""
    return corpus_vector_store(corpus), strategy_client(provider)


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
    files are dropped (and their search results are not among `passages`). The passage is the
    search result of that file sharing the most words with the citing sentence, trimmed around
    its best sentence; without results for the file, the best paragraph of the document's own
    pages stands in. Numbers follow first citation.
    """

    def __init__(self, corpus: Corpus) -> None:
        self._corpus = corpus
        self._documents: dict[str, Document | None] = {}
        self._pages: dict[int, list[Page]] = {}
        self._maps: dict[int, PageMap] = {}
        self._results: dict[str, list[str]] = {}
        self._numbers: dict[tuple[int, str], int] = {}
        self.citations: list[Citation] = []
        # The search results of this corpus's documents, in the order the provider ranked
        # them (search calls in order): what the model was given.
        self.passages: list[SearchHit] = []
        self.queries: list[str] = []  # what the provider searched for

    def add_result(
        self, file_id: str | None, text: str | None, *, score: float | None = None
    ) -> bool:
        """Keep a search result the model read; True when it is new. Results of this
        corpus's documents also become `passages` (its provenance), located on their pages."""
        if not (file_id and text and text.strip()):
            return False
        texts = self._results.setdefault(file_id, [])
        if text in texts:
            return False
        texts.append(text)
        document = self._document(file_id)
        if document is not None:
            where = self._page_map(document).locate(text)
            self.passages.append(
                SearchHit(
                    chunk_id=None,  # the store's own chunk: it lives only at the provider
                    document_id=document.pk,
                    document=document.filename,
                    page_start=where.page_start if where else None,
                    page_end=where.page_end if where else None,
                    char_start=where.char_start if where else None,
                    char_end=where.char_end if where else None,
                    text=text,
                    score=float(score) if score is not None else 0.0,
                )
            )
        return True

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
        where = self._page_map(document).locate(quote)
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

    def _page_map(self, document: Document) -> PageMap:
        if document.pk not in self._maps:
            self._maps[document.pk] = PageMap(self._document_pages(document))
        return self._maps[document.pk]

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

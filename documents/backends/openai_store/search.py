"""Searching a corpus's vector store: OpenAI's passages as SearchHits of this corpus's
documents, located in each document's page map for pages and offsets."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import openai
from django.db.models import Q

from documents.backends.base import SearchHit
from documents.backends.failures import provider_errors
from documents.backends.openai_store.files import raise_if_store_missing
from documents.models import Corpus, Document, DocumentStatus
from documents.passages import PageMap

if TYPE_CHECKING:
    from openai.types import VectorStoreSearchResponse

logger = logging.getLogger(__name__)

# https://platform.openai.com/docs/api-reference/vector-stores/search: 1 to 50 results.
_MAX_SEARCH_RESULTS = 50


def search_store(*, client: openai.OpenAI, corpus: Corpus, query: str, k: int) -> list[SearchHit]:
    started = time.perf_counter()
    with provider_errors():
        try:
            page = client.vector_stores.search(
                corpus.vector_store_id,
                query=query,
                max_num_results=max(1, min(k, _MAX_SEARCH_RESULTS)),
            )
        except openai.NotFoundError:
            raise_if_store_missing(client=client, store_id=corpus.vector_store_id)
            raise
    results = list(page.data)
    documents = _ResultDocuments(corpus, results)
    maps: dict[int, PageMap] = {}
    hits: list[SearchHit] = []
    for result in results:
        document = documents.get(result)
        if document is None:
            continue  # another corpus's file, a document not ready, or an unknown file
        text = "\n".join(part.text for part in result.content)
        if document.pk not in maps:
            maps[document.pk] = PageMap(document.pages.all())
        where = maps[document.pk].locate(text)
        hits.append(
            SearchHit(
                chunk_id=None,
                document_id=document.pk,
                document=document.filename,
                page_start=where.page_start if where else None,
                page_end=where.page_end if where else None,
                char_start=where.char_start if where else None,
                char_end=where.char_end if where else None,
                text=text,
                score=float(result.score),
            )
        )
    logger.debug(
        "search corpus=%s store=%s results=%s hits=%s ms=%.1f",
        corpus.pk,
        corpus.vector_store_id,
        len(results),
        len(hits),
        (time.perf_counter() - started) * 1000,
    )
    return hits[:k]


class _ResultDocuments:
    """This corpus's ready documents that search results name, by id attribute and file id.

    The docent_document_id attribute only counts when the document's file is the result's
    file: an adopted store may carry ids that another Docent installation wrote.
    """

    def __init__(self, corpus: Corpus, results: Sequence[VectorStoreSearchResponse]) -> None:
        pks = {pk for result in results if (pk := _attribute_pk(result)) is not None}
        file_ids = {result.file_id for result in results}
        ready = Document.objects.filter(corpus=corpus, status=DocumentStatus.READY)
        rows = ready.filter(Q(pk__in=pks) | Q(remote_file_id__in=file_ids)).only(
            "pk", "filename", "remote_file_id"
        )
        self._by_pk = {document.pk: document for document in rows}
        self._by_file = {
            document.remote_file_id: document
            for document in self._by_pk.values()
            if document.remote_file_id
        }

    def get(self, result: VectorStoreSearchResponse) -> Document | None:
        pk = _attribute_pk(result)
        document = self._by_pk.get(pk) if pk is not None else None
        if document is not None and document.remote_file_id in ("", result.file_id):
            return document
        return self._by_file.get(result.file_id)


def _attribute_pk(result: VectorStoreSearchResponse) -> int | None:
    value = (result.attributes or {}).get("docent_document_id")
    return int(value) if isinstance(value, str) and value.isdigit() else None

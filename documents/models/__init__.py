"""Corpora, their documents, pages and chunks, and re-indexes (one module per sub-domain)."""

from documents.models.corpora import Corpus, CorpusMembership, CorpusQuerySet, Role
from documents.models.documents import (
    Document,
    DocumentQuerySet,
    DocumentStage,
    DocumentStatus,
    Page,
    PageQuerySet,
    document_upload_to,
)
from documents.models.index import Chunk, IndexStats, LexemeStat
from documents.models.reindexes import CorpusReindex, CorpusReindexQuerySet, ReindexStatus

__all__ = [
    "Chunk",
    "Corpus",
    "CorpusMembership",
    "CorpusQuerySet",
    "CorpusReindex",
    "CorpusReindexQuerySet",
    "Document",
    "DocumentQuerySet",
    "DocumentStage",
    "DocumentStatus",
    "IndexStats",
    "LexemeStat",
    "Page",
    "PageQuerySet",
    "ReindexStatus",
    "Role",
    "document_upload_to",
]

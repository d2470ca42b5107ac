"""The Django admin of the documents app: corpora (corpora.py), documents and their pages
(documents.py)."""

from __future__ import annotations

from documents.admin.corpora import CorpusAdmin
from documents.admin.corpus_forms import CorpusForm
from documents.admin.documents import DocumentAdmin, PageAdmin

__all__ = ["CorpusAdmin", "CorpusForm", "DocumentAdmin", "PageAdmin"]

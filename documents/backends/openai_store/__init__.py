"""The OpenAI index: one vector store per corpus, one uploaded File per document.

OpenAI extracts, chunks and embeds the files itself; Docent still parses every document
locally for its page map, which turns File Search passages into page-level citations
(documents/passages.py). Every OpenAI error leaves this package as IndexingError
(documents/backends/failures.py).

    backend.py   the OpenAIVectorStoreBackend (settings name it by this package's path)
    files.py     a document's File: the store, upload, attachment, processing
    search.py    vector-store search as SearchHits of the corpus's documents
    adoption.py  reading an existing store for a corpus to adopt
"""

from __future__ import annotations

from documents.backends.openai_store.adoption import RemoteFile, RemoteStore
from documents.backends.openai_store.backend import OpenAIVectorStoreBackend

__all__ = ["OpenAIVectorStoreBackend", "RemoteFile", "RemoteStore"]

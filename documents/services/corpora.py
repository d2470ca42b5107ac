"""Creating, checking and deleting corpora."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from documents.backends.base import RemoteStoreBackend, get_backend
from documents.backends.embeddings import get_embedder
from documents.models import Corpus
from documents.services.files import delete_files

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


def corpus_validate_settings(
    *,
    index_backend: str,
    embedding_model: str,
    chunk_size_tokens: int,
    chunk_overlap_tokens: int,
) -> None:
    errors: dict[str, str] = {}
    if index_backend not in settings.INDEX_BACKENDS:
        errors["index_backend"] = (
            f"Unknown index backend {index_backend!r}. "
            f"Choose one of: {', '.join(settings.INDEX_BACKENDS)}."
        )
    if embedding_model not in settings.EMBEDDING_MODELS:
        errors["embedding_model"] = (
            f"Unknown embedding model {embedding_model!r}. "
            f"Choose one of: {', '.join(settings.EMBEDDING_MODELS)}."
        )
    else:
        window = get_embedder(embedding_model).max_tokens
        if not 32 <= chunk_size_tokens <= window:
            errors["chunk_size_tokens"] = (
                f"Chunk size must be between 32 and {window} tokens: the embedding model "
                f"{embedding_model} reads at most {window} tokens of a passage."
            )
    if not 0 <= chunk_overlap_tokens <= chunk_size_tokens // 2:
        errors["chunk_overlap_tokens"] = "Overlap must be between 0 and half the chunk size."
    if errors:
        raise ValidationError(errors)


def corpus_create(
    *,
    name: str,
    slug: str | None = None,
    description: str = "",
    index_backend: str | None = None,
    embedding_model: str | None = None,
    chunk_size_tokens: int = 200,
    chunk_overlap_tokens: int = 30,
    text_search_config: str = "english",
    created_by: User | None = None,
) -> Corpus:
    index_backend = index_backend or settings.DEFAULT_INDEX_BACKEND
    embedding_model = embedding_model or settings.DEFAULT_EMBEDDING_MODEL
    slug = slugify(slug or name)[:100]
    if not name.strip() or not slug:
        raise ValidationError({"name": "A corpus needs a name."})
    if Corpus.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A corpus with the slug {slug!r} already exists."})
    corpus_validate_settings(
        index_backend=index_backend,
        embedding_model=embedding_model,
        chunk_size_tokens=chunk_size_tokens,
        chunk_overlap_tokens=chunk_overlap_tokens,
    )
    corpus = Corpus.objects.create(
        name=name.strip(),
        slug=slug,
        description=description,
        index_backend=index_backend,
        embedding_model=embedding_model,
        chunk_size_tokens=chunk_size_tokens,
        chunk_overlap_tokens=chunk_overlap_tokens,
        text_search_config=text_search_config,
        created_by=created_by,
    )
    get_backend(index_backend).prepare_corpus(corpus=corpus)
    logger.info("corpus %s created (backend=%s)", corpus.pk, index_backend)
    return corpus


def corpus_delete(*, corpus: Corpus) -> None:
    """Remove the corpus from its index, then here. Raises IndexingError (nothing deleted)
    when the index cannot be reached."""
    get_backend(corpus.index_backend).remove_corpus(corpus=corpus)
    corpus_discard(corpus)


def corpus_discard(corpus: Corpus) -> None:
    """Delete the corpus's rows and originals here without touching its index."""
    names = [name for name in corpus.documents.values_list("file", flat=True) if name]
    with transaction.atomic():
        corpus.delete()
        transaction.on_commit(lambda: delete_files(names))


def corpus_refresh_remote_usage(*, corpus: Corpus) -> int | None:
    """Read what the corpus's remote store takes up at its provider and record it on the
    corpus; None for corpora indexed locally, or when it cannot be read (logged)."""
    backend = get_backend(corpus.index_backend)
    if not isinstance(backend, RemoteStoreBackend):
        return None
    return backend.refresh_usage(corpus=corpus)

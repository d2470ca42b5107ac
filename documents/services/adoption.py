"""Adopting a vector store that already exists at OpenAI as a corpus (its files become ready
documents, with their originals and page maps when OpenAI hands them out)."""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils import timezone
from django.utils.text import get_valid_filename

from documents.backends.base import IndexingError, RemoteStoreBackend, get_backend
from documents.models import Corpus, Document, DocumentStage, DocumentStatus
from documents.parsing import ParseError, parse_file
from documents.services.corpora import corpus_create, corpus_discard
from documents.services.files import local_copy
from documents.services.ingestion import pages_replace

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from documents.backends.openai_store import RemoteFile

logger = logging.getLogger(__name__)

ADOPTED_BACKEND = "openai"
NO_ORIGINAL_WARNING = (
    "The original could not be downloaded from OpenAI; citations point to the document, "
    "not the page."
)


@dataclass(frozen=True)
class AdoptionResult:
    corpus: Corpus
    imported: int
    skipped: list[tuple[str, str]]  # (filename, reason)


def corpus_adopt_vector_store(
    *,
    vector_store_id: str,
    name: str,
    slug: str | None = None,
    created_by: User | None = None,
) -> AdoptionResult:
    """Make a corpus of a vector store that already exists at OpenAI: its processed files
    become ready documents, with their original and page map when OpenAI hands them out.

    Problems, including OpenAI being unreachable, are ValidationErrors; on failure nothing is
    kept here and nothing is changed at OpenAI.
    """
    vector_store_id = vector_store_id.strip()
    if not vector_store_id:
        raise ValidationError({"vector_store_id": "Enter the id of an OpenAI vector store."})
    owner = Corpus.objects.filter(vector_store_id=vector_store_id).first()
    if owner is not None:
        message = f"The vector store {vector_store_id} is already used by the corpus “{owner}”."
        raise ValidationError({"vector_store_id": message})
    backend = get_backend(ADOPTED_BACKEND)
    if not isinstance(backend, RemoteStoreBackend):
        raise ValidationError(
            {"vector_store_id": f"The index backend {ADOPTED_BACKEND!r} keeps no remote stores."}
        )
    try:
        store = backend.retrieve_store(vector_store_id=vector_store_id)
        if store is None:
            message = (
                f"OpenAI has no vector store {vector_store_id} (or this API key cannot see it)."
            )
            raise ValidationError({"vector_store_id": message})
        remote_files = backend.list_store_files(vector_store_id=vector_store_id)
    except IndexingError as error:
        raise ValidationError({"vector_store_id": str(error)}) from error

    corpus = corpus_create(
        name=name, slug=slug, index_backend=ADOPTED_BACKEND, created_by=created_by
    )
    claimed = Corpus.objects.filter(pk=corpus.pk, vector_store_id="").update(
        vector_store_id=vector_store_id
    )
    if not claimed or Corpus.objects.filter(vector_store_id=vector_store_id).count() > 1:
        # Adopted twice at the same moment: the other adoption keeps it.
        corpus_discard(corpus)
        raise ValidationError(
            {"vector_store_id": f"The vector store {vector_store_id} was adopted meanwhile."}
        )
    corpus.vector_store_id = vector_store_id

    imported = 0
    skipped: list[tuple[str, str]] = []
    try:
        for remote in remote_files:
            reason = _document_adopt(
                corpus=corpus, remote=remote, backend=backend, uploaded_by=created_by
            )
            if reason:
                skipped.append((remote.filename or remote.file_id, reason))
            else:
                imported += 1
    except IndexingError as error:
        corpus_discard(corpus)
        raise ValidationError({"vector_store_id": str(error)}) from error
    backend.refresh_usage(corpus=corpus)
    logger.info(
        "corpus %s adopted vector store %s: %s documents, %s skipped",
        corpus.pk,
        vector_store_id,
        imported,
        len(skipped),
    )
    return AdoptionResult(corpus=corpus, imported=imported, skipped=skipped)


def _document_adopt(
    *,
    corpus: Corpus,
    remote: RemoteFile,
    backend: RemoteStoreBackend,
    uploaded_by: User | None,
) -> str:
    """Create the ready document for one file of an adopted store; the reason if skipped."""
    if not remote.filename:
        return "The file was deleted at OpenAI."
    if remote.status == "failed":
        return f"OpenAI could not process this file: {remote.error or 'no reason given'}"
    if remote.status == "cancelled":
        return "Processing of this file was cancelled at OpenAI."
    # An in_progress file is kept: OpenAI finishes it in the store whatever Docent does.
    filename = get_valid_filename(os.path.basename(remote.filename)) or "upload"
    content = backend.download(file_id=remote.file_id)
    digest = hashlib.sha256(
        content if content is not None else f"openai-file:{remote.file_id}".encode()
    ).hexdigest()
    duplicate = Document.objects.filter(corpus=corpus, sha256=digest).first()
    if duplicate is not None:
        return f"Same content as {duplicate.filename}, which is already in the corpus."
    now = timezone.now()
    document = Document(
        corpus=corpus,
        filename=filename[:255],
        content_type=mimetypes.guess_type(filename)[0] or "",
        size_bytes=len(content) if content is not None else remote.size_bytes,
        sha256=digest,
        status=DocumentStatus.READY,
        stage=DocumentStage.NONE,
        progress=1.0,
        parser="openai",
        remote_file_id=remote.file_id,
        uploaded_by=uploaded_by,
        started_at=now,
        finished_at=now,
    )
    warnings: list[str] = []
    if content is None:
        warnings.append(NO_ORIGINAL_WARNING)
    else:
        document.file.save(filename, ContentFile(content, name=filename), save=False)
    document.save()
    if content is not None:
        try:
            with local_copy(document) as path:
                parsed = parse_file(path, filename=filename, max_pages=settings.DOCUMENT_MAX_PAGES)
        except ParseError as error:
            warnings.append(f"{error} Citations point to the document, not the page.")
        except Exception:
            # A parser bug must not abort the adoption of every other file.
            logger.exception("document %s: unexpected error while parsing", document.pk)
            warnings.append(
                "The page map could not be built; citations point to the document, not the page."
            )
        else:
            pages = pages_replace(document, parsed.pages)
            warnings.extend(parsed.warnings)
            Document.objects.filter(pk=document.pk).update(page_count=len(pages))
    if warnings:
        Document.objects.filter(pk=document.pk).update(warning="\n".join(warnings))
    logger.info(
        "document %s adopted from file %s (original %s)",
        document.pk,
        remote.file_id,
        "kept" if content is not None else "not downloadable",
    )
    return ""

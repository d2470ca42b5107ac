"""Accepting an upload: store the original once, refuse what cannot be indexed, queue it."""

from __future__ import annotations

import logging
import mimetypes
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils.text import get_valid_filename

from documents.models import Corpus, Document
from documents.parsing import pdf
from documents.parsing.base import ParseError, ParseErrorCode
from documents.parsing.detect import identify_format
from documents.services.files import sha256_of, upload_path
from documents.services.ingestion import enqueue_ingest

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


class UploadRefused(ValidationError):
    """A file refused at upload because no registered parser can read it (its type, judged
    by name and content), or because what it is already shows it cannot be read (encrypted,
    damaged). Nothing is stored. `reason` is the parsing failure's code."""

    def __init__(self, message: str, *, reason: ParseErrorCode) -> None:
        super().__init__({"file": [ValidationError(message, code=reason.value)]})
        self.reason = reason


def upload_filename(name: str) -> str:
    """The file's name as it was uploaded, which is what people see: only its last path part
    (some browsers send a whole Windows path), without control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if not unicodedata.category(c).startswith("C")).strip()
    return name[:255] or "upload"


def _storage_name(filename: str) -> str:
    # The stored copy's path is made safe; the name shown stays the uploaded one.
    try:
        return get_valid_filename(filename)
    except SuspiciousFileOperation:  # nothing usable is left of it ("", ".", "..")
        return "upload"


@dataclass(frozen=True)
class UploadOutcome:
    document: Document
    created: bool  # False: the corpus already holds a file with the same content

    @property
    def duplicate(self) -> bool:
        return not self.created


def document_upload(
    *,
    corpus: Corpus,
    file: IO[bytes],
    filename: str,
    uploaded_by: User | None = None,
    content_type: str = "",
    enqueue: bool = True,
) -> UploadOutcome:
    """Store the original, refuse duplicates, queue ingestion once the row is committed.

    `enqueue=False` publishes no message: the caller ingests the document itself (the
    `ingest --inline` command), so that no worker takes it meanwhile; if the caller dies
    first, the stale-work rule queues it."""
    filename = upload_filename(filename)
    digest, size = sha256_of(file)
    if size == 0:
        raise ValidationError({"file": f"{filename} is empty (0 bytes); nothing to index."})
    if size > settings.DOCUMENT_MAX_UPLOAD_BYTES:
        limit = settings.DOCUMENT_MAX_UPLOAD_BYTES // (1024 * 1024)
        raise ValidationError({"file": f"{filename} is larger than the {limit} MB limit."})
    document_check_upload(file=file, filename=filename)
    existing = Document.objects.filter(corpus=corpus, sha256=digest).first()
    if existing is not None:
        logger.info("upload to corpus %s duplicates document %s", corpus.pk, existing.pk)
        return UploadOutcome(existing, created=False)

    document = Document(
        corpus=corpus,
        filename=filename[:255],
        content_type=content_type or mimetypes.guess_type(filename)[0] or "",
        size_bytes=size,
        sha256=digest,
        uploaded_by=uploaded_by,
        large=is_large(file, size=size),
    )
    file.seek(0)
    stored_name = _storage_name(filename)
    document.file.save(stored_name, File(file, name=stored_name), save=False)
    try:
        with transaction.atomic():
            document.save()
            if enqueue:
                enqueue_ingest(document.pk, large=document.large)
    except IntegrityError:
        document.file.delete(save=False)
        # The same content arrived concurrently: keep the first and drop our stored copy.
        winner = Document.objects.filter(corpus=corpus, sha256=digest).first()
        if winner is None:
            raise
        return UploadOutcome(winner, created=False)
    logger.info("document %s uploaded to corpus %s (%s bytes)", document.pk, corpus.pk, size)
    return UploadOutcome(document, created=True)


def is_large(file: IO[bytes], *, size: int) -> bool:
    """Whether a file goes to the large-documents queue: INGEST_LARGE_BYTES or more, or a PDF
    of INGEST_LARGE_PAGES pages or more (only the page tree is read, no page is parsed)."""
    if size >= settings.INGEST_LARGE_BYTES:
        return True
    file.seek(0)
    pages = pdf.page_count(file.read())
    return pages is not None and pages >= settings.INGEST_LARGE_PAGES


def document_check_upload(*, file: IO[bytes], filename: str) -> str:
    """The format key the file would be parsed as (the parser registry decides, by name and
    first bytes); raises UploadRefused with the reason ingestion would give otherwise."""
    with upload_path(file, suffix=os.path.splitext(filename)[1][:20]) as path:
        try:
            return identify_format(path, filename=filename)
        except ParseError as error:
            logger.info("upload refused: %s", error.code)
            message = f"{filename} cannot be added: {error}"
            raise UploadRefused(message, reason=error.code) from error


def document_upload_path(
    *, corpus: Corpus, path: Path, uploaded_by: User | None = None, enqueue: bool = True
) -> UploadOutcome:
    with path.open("rb") as handle:
        return document_upload(
            corpus=corpus,
            file=handle,
            filename=path.name,
            uploaded_by=uploaded_by,
            enqueue=enqueue,
        )

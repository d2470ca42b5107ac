from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q

from documents.models.corpora import Corpus, Role
from documents.models.jobs import JobRow
from documents.parsing.base import ParseErrorCode

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class DocumentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"

    @property
    def is_final(self) -> bool:
        return self in (DocumentStatus.READY, DocumentStatus.FAILED)


class DocumentStage(models.TextChoices):
    NONE = "", "—"
    PARSING = "parsing", "Extracting text"
    CHUNKING = "chunking", "Splitting into passages"
    EMBEDDING = "embedding", "Computing embeddings"
    INDEXING = "indexing", "Writing the index"
    OCR = "ocr", "Reading scanned pages (OCR)"
    UPLOADING = "uploading", "Uploading to OpenAI"
    REMOTE_PROCESSING = "remote_processing", "Processing at OpenAI"


class DocumentQuerySet(models.QuerySet["Document"]):
    def for_user(self, user: User | AnonymousUser, role: Role = Role.READER) -> DocumentQuerySet:
        return self.filter(corpus__in=Corpus.objects.for_user(user, role))

    def ready(self) -> DocumentQuerySet:
        return self.filter(status=DocumentStatus.READY)

    def in_progress(self) -> DocumentQuerySet:
        return self.filter(status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING])


def document_upload_to(instance: Document, filename: str) -> str:
    # The checksum keeps paths unique without trusting the uploaded name.
    return f"documents/{instance.corpus_id}/{instance.sha256[:2]}/{instance.sha256}/{filename}"


class Document(JobRow):
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="documents")
    # Blank only for documents adopted from an OpenAI vector store whose originals OpenAI
    # would not hand back.
    file = models.FileField(upload_to=document_upload_to, max_length=500, blank=True)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=150, blank=True)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(
        max_length=20, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED
    )
    stage = models.CharField(
        max_length=30, choices=DocumentStage.choices, default=DocumentStage.NONE, blank=True
    )
    progress = models.FloatField(default=0.0)  # 0..1 within the current stage
    warning = models.TextField(blank=True)  # e.g. pages without extractable text
    # What kind of failure `error` describes: the parsing failure's code (ParseErrorCode) for a
    # file that could not be read; blank for other failures (provider, interruption, bug).
    failure_code = models.CharField(max_length=30, blank=True, default="")
    page_count = models.PositiveIntegerField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    embedding_tokens = models.PositiveBigIntegerField(default=0)
    parser = models.CharField(max_length=50, blank=True)
    # The uploaded File's id at OpenAI (openai backend); reused when a task is retried.
    remote_file_id = models.CharField(max_length=100, blank=True, db_index=True)
    timings = models.JSONField(default=dict, blank=True)  # seconds per stage
    # Decided at upload (INGEST_LARGE_BYTES, INGEST_LARGE_PAGES): ingested on the large-documents
    # queue, so that small files never wait behind it.
    large = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["corpus", "sha256"], name="document_unique_content"),
        ]
        indexes = [models.Index(fields=["status", "lease_expires_at"])]

    def __str__(self) -> str:
        return self.filename

    @property
    def is_final(self) -> bool:
        return DocumentStatus(self.status).is_final

    @property
    def retry_helps(self) -> bool:
        """False for a failed document whose failure processing it again cannot change (its
        type is not read, it is encrypted, damaged or empty): only another file can help."""
        if self.status != DocumentStatus.FAILED:
            return True
        try:
            return not ParseErrorCode(self.failure_code).permanent
        except ValueError:
            return True

    @property
    def is_pdf(self) -> bool:
        return self.parser == "pdf" or (
            self.content_type == "application/pdf" or self.filename.lower().endswith(".pdf")
        )


class PageQuerySet(models.QuerySet["Page"]):
    def labels_for(self, pages: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
        """The labels ("Slide 3", "Sheet: Revenue") of those (document id, page number) pairs
        that have one."""
        wanted = set(pages)
        if not wanted:
            return {}
        condition = Q()
        for document_id in {document_id for document_id, _ in wanted}:
            numbers = [number for doc, number in wanted if doc == document_id]
            condition |= Q(document_id=document_id, number__in=numbers)
        rows = self.filter(condition).exclude(label="").only("document", "number", "label")
        return {(row.document_id, row.number): row.label for row in rows}

    def number_at(self, *, document_id: int, offset: int) -> int | None:
        """The number of the page of that document holding document offset `offset`."""
        return (
            self.filter(document_id=document_id, char_start__lte=offset)
            .order_by("-char_start")
            .values_list("number", flat=True)
            .first()
        )


class Page(models.Model):
    """Extracted text of one page (PDF page, slide, sheet, chapter, ...) of a document.

    `char_start` is the page's offset in the document text, which is the pages' texts joined
    with PAGE_SEPARATOR; chunk offsets use the same coordinates.
    """

    PAGE_SEPARATOR = "\n\n"

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="pages")
    number = models.PositiveIntegerField()  # 1-based
    label = models.CharField(max_length=200, blank=True)  # "Slide 3", "Sheet: Revenue", ...
    text = models.TextField()
    char_start = models.PositiveIntegerField()
    ocr = models.BooleanField(default=False)  # text read by OCR from a picture of the page
    ocr_confidence = models.FloatField(null=True, blank=True)  # the engine's mean, 0..1

    objects = PageQuerySet.as_manager()

    class Meta:
        ordering = ["document", "number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="page_unique_number"),
        ]

    def __str__(self) -> str:
        return self.label or f"Page {self.number}"

    @property
    def char_end(self) -> int:
        return self.char_start + len(self.text)

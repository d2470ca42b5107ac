from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from pgvector.django import VectorField


class Corpus(models.Model):
    """A collection of documents that staff chat with, indexed by one backend."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # Plain keys into settings.INDEX_BACKENDS / EMBEDDING_MODELS, validated by the services
    # (not `choices`: adding a backend must not need a migration).
    index_backend = models.CharField(max_length=50)
    embedding_model = models.CharField(max_length=100)
    chunk_size_tokens = models.PositiveSmallIntegerField(default=200)
    chunk_overlap_tokens = models.PositiveSmallIntegerField(default=30)
    # A PostgreSQL text search configuration (english, simple, german, ...).
    text_search_config = models.CharField(max_length=50, default="english")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "corpora"

    def __str__(self) -> str:
        return self.name


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
    UPLOADING = "uploading", "Uploading to OpenAI"
    REMOTE_PROCESSING = "remote_processing", "Processing at OpenAI"


class DocumentQuerySet(models.QuerySet["Document"]):
    def ready(self) -> DocumentQuerySet:
        return self.filter(status=DocumentStatus.READY)

    def in_progress(self) -> DocumentQuerySet:
        return self.filter(status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING])

    def stale(self, *, now: dt.datetime, queued_before: dt.datetime) -> DocumentQuerySet:
        """Documents whose worker died (lease ran out) or whose queue message was lost."""
        return self.filter(
            Q(status=DocumentStatus.PROCESSING, lease_expires_at__lt=now)
            | Q(status=DocumentStatus.QUEUED, queued_at__lt=queued_before)
        )


def document_upload_to(instance: Document, filename: str) -> str:
    # The checksum keeps paths unique without trusting the uploaded name.
    return f"documents/{instance.corpus_id}/{instance.sha256[:2]}/{instance.sha256}/{filename}"


class Document(models.Model):
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="documents")
    file = models.FileField(upload_to=document_upload_to, max_length=500)
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
    error = models.TextField(blank=True)  # human-readable reason when failed
    warning = models.TextField(blank=True)  # e.g. pages without extractable text
    page_count = models.PositiveIntegerField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    embedding_tokens = models.PositiveBigIntegerField(default=0)
    parser = models.CharField(max_length=50, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)  # seconds per stage
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

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


class Chunk(models.Model):
    """A passage of a document, embedded and full-text indexed for the local backend."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    # Denormalised from the document so that retrieval filters on the chunk row alone.
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="+")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    page_start = models.PositiveIntegerField()
    page_end = models.PositiveIntegerField()
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField()
    # No fixed dimension: corpora may use different models. HNSW indexes are partial
    # expression indexes per dimension (see migrations and backends/pgvector_store.py).
    embedding = VectorField(null=True)
    search_vector = SearchVectorField(null=True)

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="chunk_unique_ordinal"),
        ]
        indexes = [
            # btree_gin lets one GIN index answer "this corpus AND these words".
            GinIndex(fields=["corpus", "search_vector"], name="chunk_corpus_search_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"

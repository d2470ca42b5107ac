from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from pgvector.django import VectorField

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class Role(models.TextChoices):
    """What a member may do in a corpus; each role includes the ones before it."""

    READER = "reader", "Reader (chat and read)"
    CONTRIBUTOR = "contributor", "Contributor (also upload and delete documents)"
    MANAGER = "manager", "Manager (also edit the corpus and its members)"

    def at_least(self) -> list[str]:
        order = list(Role)
        return [role.value for role in order[order.index(self) :]]


class CorpusQuerySet(models.QuerySet["Corpus"]):
    def for_user(self, user: User | AnonymousUser, role: Role = Role.READER) -> CorpusQuerySet:
        """The one place that decides which corpora a user may use in a role: superusers see
        everything; others what they are granted directly or through a group."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        roles = role.at_least()
        granted = CorpusMembership.objects.filter(role__in=roles).filter(
            Q(user=user) | Q(group__in=user.groups.all())
        )
        return self.filter(pk__in=granted.values("corpus_id"))


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
    # The chunks search reads (pgvector backend). A re-index builds the next version beside it
    # and switches once complete, so the current one keeps answering meanwhile.
    index_version = models.PositiveIntegerField(default=1)
    # A PostgreSQL text search configuration (english, simple, german, ...).
    text_search_config = models.CharField(max_length=50, default="english")
    # The corpus's OpenAI vector store (openai backend), created on first use.
    vector_store_id = models.CharField(max_length=100, blank=True)
    # A key of settings.CHAT_STRATEGIES for new conversations; blank = the backend's default.
    chat_strategy = models.CharField(max_length=50, blank=True)
    # Remote objects answer strategies keep per corpus, e.g. {"assistants": {"assistant_id": ...}}.
    strategy_state = models.JSONField(default=dict, blank=True)
    # What OpenAI bills the corpus's vector store for (openai backend), as last read from
    # OpenAI after an ingestion or deletion; None until then.
    remote_usage_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    remote_usage_updated_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CorpusQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "corpora"

    def __str__(self) -> str:
        return self.name


class CorpusMembership(models.Model):
    """Shares a corpus with one user or one group, in a role."""

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="corpus_memberships",
    )
    group = models.ForeignKey(
        "auth.Group",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="corpus_memberships",
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.READER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="membership_user_xor_group",
            ),
            models.UniqueConstraint(fields=["corpus", "user"], name="membership_unique_user"),
            models.UniqueConstraint(fields=["corpus", "group"], name="membership_unique_group"),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.group} — {self.get_role_display()}"


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
    def for_user(self, user: User | AnonymousUser, role: Role = Role.READER) -> DocumentQuerySet:
        return self.filter(corpus__in=Corpus.objects.for_user(user, role))

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
    error = models.TextField(blank=True)  # human-readable reason when failed
    warning = models.TextField(blank=True)  # e.g. pages without extractable text
    page_count = models.PositiveIntegerField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    embedding_tokens = models.PositiveBigIntegerField(default=0)
    parser = models.CharField(max_length=50, blank=True)
    # The uploaded File's id at OpenAI (openai backend); reused when a task is retried.
    remote_file_id = models.CharField(max_length=100, blank=True, db_index=True)
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
    # Corpus.index_version this chunk belongs to; search reads the corpus's current version.
    # The database default keeps rows written outside Django (benchmarks, tests) searchable.
    index_version = models.PositiveIntegerField(default=1, db_default=1)
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
            models.UniqueConstraint(
                fields=["document", "index_version", "ordinal"], name="chunk_unique_ordinal"
            ),
        ]
        indexes = [
            # btree_gin lets one GIN index answer "this corpus, this version AND these words".
            GinIndex(
                fields=["corpus", "index_version", "search_vector"],
                name="chunk_corpus_search_gin",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal} (v{self.index_version})"


class IndexStats(models.Model):
    """Size of one version of a corpus's full-text index, for BM25's N and average length.

    Kept exact by database triggers on documents_chunk (migration 0007): every insert, update
    of search_vector and delete, including cascades, adjusts it in the same transaction.
    """

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="+")
    index_version = models.PositiveIntegerField()
    chunks = models.BigIntegerField(default=0)  # chunks with a tsvector
    tokens = models.BigIntegerField(default=0)  # their summed token_count

    class Meta:
        verbose_name_plural = "index stats"
        constraints = [
            models.UniqueConstraint(
                fields=["corpus", "index_version"], name="indexstats_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"corpus {self.corpus_id} v{self.index_version}: {self.chunks} chunks"


class LexemeStat(models.Model):
    """In how many chunks of a corpus's index version a lexeme occurs (BM25's document
    frequency). Maintained by the same triggers as IndexStats."""

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="+")
    index_version = models.PositiveIntegerField()
    lexeme = models.TextField()
    chunks = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["corpus", "index_version", "lexeme"], name="lexemestat_unique_lexeme"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lexeme}: {self.chunks}"


class ReindexStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"

    @classmethod
    def active(cls) -> list[str]:
        return [cls.QUEUED.value, cls.RUNNING.value]


class CorpusReindexQuerySet(models.QuerySet["CorpusReindex"]):
    def active(self) -> CorpusReindexQuerySet:
        return self.filter(status__in=ReindexStatus.active())

    def stale(self, *, now: dt.datetime, queued_before: dt.datetime) -> CorpusReindexQuerySet:
        """Re-indexes whose worker died (lease ran out) or whose queue message was lost."""
        return self.filter(
            Q(status=ReindexStatus.RUNNING, lease_expires_at__lt=now)
            | Q(status=ReindexStatus.QUEUED, queued_at__lt=queued_before)
        )


class CorpusReindex(models.Model):
    """Rebuilding a corpus's chunks with new embedding or chunking settings, as version
    `target_version`, while the current version keeps answering."""

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="reindexes")
    target_version = models.PositiveIntegerField()
    embedding_model = models.CharField(max_length=100)
    chunk_size_tokens = models.PositiveSmallIntegerField()
    chunk_overlap_tokens = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=10, choices=ReindexStatus.choices, default=ReindexStatus.QUEUED
    )
    documents_total = models.PositiveIntegerField(default=0)
    documents_done = models.PositiveIntegerField(default=0)
    embedding_tokens = models.PositiveBigIntegerField(default=0)  # for usage accounting
    error = models.TextField(blank=True)  # human-readable reason when failed
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = CorpusReindexQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "re-index"
        verbose_name_plural = "re-indexes"
        constraints = [
            models.UniqueConstraint(
                fields=["corpus"],
                condition=Q(status__in=["queued", "running"]),
                name="reindex_one_active_per_corpus",
            ),
            models.UniqueConstraint(
                fields=["corpus", "target_version"], name="reindex_unique_target_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.corpus} v{self.target_version}"

    @property
    def is_active(self) -> bool:
        return self.status in ReindexStatus.active()

    @property
    def summary(self) -> str:
        """e.g. "Running: 12 of 40 documents" for progress displays."""
        label = ReindexStatus(self.status).label
        if self.status == ReindexStatus.QUEUED:
            return label
        if self.status == ReindexStatus.FAILED:
            return f"{label}: {self.error}"
        return f"{label}: {self.documents_done} of {self.documents_total} documents"

    @property
    def settings_label(self) -> str:
        return (
            f"{self.embedding_model}, {self.chunk_size_tokens} tokens per chunk, "
            f"{self.chunk_overlap_tokens} overlap"
        )

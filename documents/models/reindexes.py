from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from documents.models.corpora import Corpus
from documents.models.jobs import JobRow


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


class CorpusReindex(JobRow):
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
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

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

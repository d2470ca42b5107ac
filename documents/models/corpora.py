from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Count, Q

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

    def with_document_counts(self) -> CorpusQuerySet:
        """Each corpus with documents_total / _ready / _processing / _failed, by name.

        The order is explicit: Django leaves Meta.ordering out of a GROUP BY query, so without
        it the database's order (which changes with its plan) would reach the lists."""
        from documents.models.documents import DocumentStatus

        counted = self.annotate(
            documents_total=Count("documents"),
            documents_ready=Count("documents", filter=Q(documents__status=DocumentStatus.READY)),
            documents_processing=Count(
                "documents",
                filter=Q(documents__status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING]),
            ),
            documents_failed=Count("documents", filter=Q(documents__status=DocumentStatus.FAILED)),
        )
        return counted.order_by("name", "pk")


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

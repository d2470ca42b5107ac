"""Provenance of every answer, question sets and evaluation runs.

Provenance rows copy what was shown (document name, pages, text, its hash) instead of only
pointing at chunks: re-indexing replaces chunks, and the record must still say what the asker
saw. Links to the chunk and the document are kept while they exist (SET_NULL afterwards).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from documents.models import Corpus, Role
from documents.models.jobs import JobRow

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class Interface(models.TextChoices):
    WEB = "web", "Web"
    REST = "rest", "REST API token"
    OPENAI = "openai", "/v1 (OpenAI-compatible)"
    CLI = "cli", "Command line"
    EVALUATION = "evaluation", "Evaluation run"


class ProvenanceQuerySet(models.QuerySet["AnswerProvenance"]):
    def for_manager(self, user: User | AnonymousUser) -> ProvenanceQuerySet:
        """Records of the corpora `user` manages (superusers: all)."""
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(corpus__in=Corpus.objects.for_user(user, Role.MANAGER))

    def for_asker(self, user: User | AnonymousUser) -> ProvenanceQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(user=user)


class AnswerProvenance(models.Model):
    """What one answer was made from, and who asked through which interface."""

    message = models.OneToOneField(
        "chat.Message", on_delete=models.CASCADE, related_name="provenance"
    )
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="answer_provenance",
    )
    interface = models.CharField(max_length=12, choices=Interface.choices)
    # The token that asked (REST or /v1); its label stays when the token is deleted.
    token = models.ForeignKey(
        "api.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    token_label = models.CharField(max_length=150, blank=True)
    question = models.TextField()
    strategy = models.CharField(max_length=50)
    model = models.CharField(max_length=100, blank=True)
    index_backend = models.CharField(max_length=50)
    index_version = models.PositiveIntegerField()
    # Strategy options (no secrets), the corpus's embedding and chunking, retrieval trace.
    settings = models.JSONField(default=dict, blank=True)
    grounded = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = ProvenanceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "answer provenance"
        verbose_name_plural = "answer provenance"
        indexes = [models.Index(fields=["corpus", "-created_at"])]

    def __str__(self) -> str:
        return f"Provenance of answer {self.message_id}"


class PassageRole(models.TextChoices):
    CONTEXT = "context", "Given to the model"
    CITED = "cited", "Quoted in the answer"


class ProvenancePassage(models.Model):
    provenance = models.ForeignKey(
        AnswerProvenance, on_delete=models.CASCADE, related_name="passages"
    )
    position = models.PositiveSmallIntegerField()  # rank among passages of the same role
    role = models.CharField(max_length=8, choices=PassageRole.choices)
    citation_number = models.PositiveSmallIntegerField(null=True, blank=True)
    # The chunk id as it was (kept after the chunk is gone) and a live link while it exists.
    chunk_ref = models.PositiveBigIntegerField(null=True, blank=True)
    chunk = models.ForeignKey(
        "documents.Chunk", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    document = models.ForeignKey(
        "documents.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    document_ref = models.PositiveBigIntegerField(null=True, blank=True)
    document_name = models.CharField(max_length=255)
    page_start = models.PositiveIntegerField(null=True, blank=True)
    page_end = models.PositiveIntegerField(null=True, blank=True)
    index_version = models.PositiveIntegerField(null=True, blank=True)
    text = models.TextField()  # exactly what was given or quoted
    text_sha256 = models.CharField(max_length=64)
    score = models.FloatField(null=True, blank=True)
    similarity = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["provenance", "role", "position"]

    def __str__(self) -> str:
        return f"{self.document_name} p.{self.page_start or '?'}"

    @property
    def pages(self) -> str:
        if self.page_start is None:
            return ""
        if self.page_end and self.page_end != self.page_start:
            return f"{self.page_start}–{self.page_end}"  # noqa: RUF001
        return str(self.page_start)


# --- question sets ----------------------------------------------------------------------------


class QuestionSetQuerySet(models.QuerySet["QuestionSet"]):
    def for_manager(self, user: User | AnonymousUser) -> QuestionSetQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(corpus__in=Corpus.objects.for_user(user, Role.MANAGER))


class QuestionSet(models.Model):
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="question_sets")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = QuestionSetQuerySet.as_manager()

    class Meta:
        ordering = ["corpus", "name"]
        constraints = [
            models.UniqueConstraint(fields=["corpus", "name"], name="question_set_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.corpus.slug})"


class QuestionOrigin(models.TextChoices):
    MANUAL = "manual", "Written"
    IMPORT = "import", "Imported"
    FEEDBACK = "feedback", "Drafted from feedback"


class QuestionQuerySet(models.QuerySet["Question"]):
    def confirmed(self) -> QuestionQuerySet:
        return self.filter(confirmed=True)


class Question(models.Model):
    question_set = models.ForeignKey(
        QuestionSet, on_delete=models.CASCADE, related_name="questions"
    )
    text = models.TextField()
    # Filenames of the documents that answer it, and the pages (any of them counts).
    expected_documents = models.JSONField(default=list, blank=True)
    expected_pages = models.JSONField(default=list, blank=True)
    expected_answer = models.TextField(blank=True)
    answerable = models.BooleanField(default=True)
    # Drafts (from feedback) are not evaluated until a person confirms them.
    confirmed = models.BooleanField(default=True)
    origin = models.CharField(
        max_length=8, choices=QuestionOrigin.choices, default=QuestionOrigin.MANUAL
    )
    source_message = models.ForeignKey(
        "chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    feedback_rating = models.CharField(max_length=4, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = QuestionQuerySet.as_manager()

    class Meta:
        ordering = ["question_set", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["question_set", "source_message"],
                condition=Q(source_message__isnull=False),
                name="question_unique_source_message",
            )
        ]

    def __str__(self) -> str:
        return self.text[:80]


# --- evaluation runs --------------------------------------------------------------------------


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class EvaluationRunQuerySet(models.QuerySet["EvaluationRun"]):
    def for_manager(self, user: User | AnonymousUser) -> EvaluationRunQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(corpus__in=Corpus.objects.for_user(user, Role.MANAGER))


class EvaluationRun(JobRow):
    """One question set answered under one or more configurations.

    `configurations` is a list of {"label", "strategy", "top_k", "rerank", "corpus"}: `corpus`
    (a slug) evaluates another corpus holding the same files (a pgvector and an OpenAI vector
    store corpus side by side); expected documents are matched by filename.
    """

    question_set = models.ForeignKey(QuestionSet, on_delete=models.CASCADE, related_name="runs")
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="+")
    configurations = models.JSONField(default=list)
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # Per configuration label: the mean of each metric, and counts (evaluation/metrics.py).
    summary = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = EvaluationRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "evaluation run"

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.question_set.name}"

    @property
    def labels(self) -> list[str]:
        return [str(config["label"]) for config in self.configurations]


class EvaluationResult(models.Model):
    """One question under one configuration of a run."""

    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="results")
    configuration = models.CharField(max_length=100)  # the configuration's label
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="results")
    # The stored answer (gone after retention deletes evaluation conversations).
    message = models.ForeignKey(
        "chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # [{"document", "page", "page_end", "score"}], best first.
    retrieved = models.JSONField(default=list, blank=True)
    hit_at_1 = models.FloatField(null=True, blank=True)
    hit_at_5 = models.FloatField(null=True, blank=True)
    reciprocal_rank = models.FloatField(null=True, blank=True)
    answer_in_citations = models.BooleanField(null=True, blank=True)
    citations_valid = models.BooleanField(null=True, blank=True)
    abstained = models.BooleanField(default=False)
    abstention_correct = models.BooleanField(default=False)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    model = models.CharField(max_length=100, blank=True)
    cost_usd = models.FloatField(null=True, blank=True)  # None: the model has no price
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "question", "configuration"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "configuration", "question"], name="result_unique_per_config"
            )
        ]

    def __str__(self) -> str:
        return f"{self.configuration}: {self.question}"

    def metrics(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in METRIC_FIELDS}


METRIC_FIELDS = (
    "hit_at_1",
    "hit_at_5",
    "reciprocal_rank",
    "answer_in_citations",
    "citations_valid",
    "abstention_correct",
)

"""Rows behind the Assistants v2 endpoints (/v1/assistants, /v1/threads, /v1/files,
/v1/vector_stores). A thread is a Docent conversation once it knows its corpus; vector stores
are corpora and are not stored here."""

from __future__ import annotations

import secrets
import string
from typing import Any

from django.conf import settings
from django.db import models

_ALPHABET = string.ascii_letters + string.digits


def public_id(prefix: str) -> str:
    """An OpenAI-looking id (``asst_…``, ``thread_…``): random, so ids reveal no row counts."""
    return f"{prefix}{''.join(secrets.choice(_ALPHABET) for _ in range(24))}"


def _assistant_id() -> str:
    return public_id("asst_")


def _thread_id() -> str:
    return public_id("thread_")


def _message_id() -> str:
    return public_id("msg_")


def _run_id() -> str:
    return public_id("run_")


def _file_id() -> str:
    return public_id("file-")


def _batch_id() -> str:
    return public_id("vsfb_")


def _auto() -> str:
    return "auto"


class Assistant(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=_assistant_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assistants"
    )
    token = models.ForeignKey(
        "api.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=256, blank=True, null=True)  # noqa: DJ001 - null on the wire
    description = models.CharField(max_length=512, blank=True, null=True)  # noqa: DJ001 - null on the wire
    model = models.CharField(max_length=256)
    instructions = models.TextField(blank=True, null=True)  # noqa: DJ001 - null on the wire
    tools = models.JSONField(default=list, blank=True)
    # {"file_search": {"vector_store_ids": ["vs_<corpus slug>"]}}
    tool_resources = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    temperature = models.FloatField(default=1.0)
    top_p = models.FloatField(default=1.0)
    response_format = models.JSONField(default=_auto, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or self.public_id


class AssistantThread(models.Model):
    """A thread of the Assistants API. Its conversation is created when its corpus is known
    (a vector store in `tool_resources`, or the first run's assistant) and is shown in the web
    UI like any other; deleting either deletes both."""

    public_id = models.CharField(max_length=40, unique=True, default=_thread_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assistant_threads"
    )
    token = models.ForeignKey(
        "api.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation = models.OneToOneField(
        "chat.Conversation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="assistant_thread",
    )
    tool_resources = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.public_id


class ThreadMessageRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class ThreadMessage(models.Model):
    """A message as the Assistants API shows it. Questions and answers are also Docent
    messages (`chat_message`) once a run has asked them."""

    public_id = models.CharField(max_length=40, unique=True, default=_message_id, editable=False)
    thread = models.ForeignKey(AssistantThread, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=ThreadMessageRole.choices)
    # For answers: the text with 【n:m†file】 markers that `annotations` point at.
    content = models.TextField(blank=True)
    annotations = models.JSONField(default=list, blank=True)
    attachments = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    run = models.ForeignKey(
        "ThreadRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assistant_public_id = models.CharField(max_length=40, blank=True)
    chat_message = models.ForeignKey(
        "chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["thread", "id"]

    def __str__(self) -> str:
        return self.public_id


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    INCOMPLETE = "incomplete", "Incomplete"


class ThreadRun(models.Model):
    """One run: the question(s) added since the previous run, answered from the thread's
    corpus. Outcome, usage and the answer are written on the row."""

    public_id = models.CharField(max_length=40, unique=True, default=_run_id, editable=False)
    thread = models.ForeignKey(AssistantThread, on_delete=models.CASCADE, related_name="runs")
    assistant = models.ForeignKey(
        Assistant, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    assistant_public_id = models.CharField(max_length=40)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    model = models.CharField(max_length=256)
    instructions = models.TextField(blank=True, null=True)  # noqa: DJ001 - null on the wire
    tools = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Accepted and echoed, not used: temperature, top_p, truncation_strategy, ...
    options = models.JSONField(default=dict, blank=True)
    last_error = models.JSONField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    answer = models.ForeignKey(
        "chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.public_id

    @property
    def option_values(self) -> dict[str, Any]:
        return dict(self.options or {})


class ApiFile(models.Model):
    """A file uploaded through /v1/files. It becomes a Docent document when it is added to a
    vector store (a corpus); until then only its uploader sees it."""

    public_id = models.CharField(max_length=40, unique=True, default=_file_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_files"
    )
    token = models.ForeignKey(
        "api.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=255)
    purpose = models.CharField(max_length=40)
    bytes = models.PositiveBigIntegerField(default=0)
    file = models.FileField(upload_to="api-files/%Y/%m/")
    documents = models.ManyToManyField("documents.Document", blank=True, related_name="api_files")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.public_id})"


class FileBatch(models.Model):
    """/v1/vector_stores/{id}/file_batches: files added to a corpus together; its status is
    that of their documents."""

    public_id = models.CharField(max_length=40, unique=True, default=_batch_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    corpus = models.ForeignKey("documents.Corpus", on_delete=models.CASCADE, related_name="+")
    files = models.ManyToManyField(ApiFile, related_name="batches")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.public_id

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from documents.models import Corpus

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def for_user(self, user: User | AnonymousUser) -> ConversationQuerySet:
        """A user sees only their own conversations, and only while they may read the corpus."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(user=user, corpus__in=Corpus.objects.for_user(user))

    def matching(self, query: str) -> ConversationQuerySet:
        """Conversations whose title or any question or answer contains every word of `query`."""
        result = self
        for word in query.split()[:10]:
            result = result.filter(
                models.Q(title__icontains=word) | models.Q(messages__content__icontains=word)
            )
        return result.distinct()


class Conversation(models.Model):
    """A chat about one corpus. Every turn is stored here, whatever the strategy, so history
    never lives only at a provider."""

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="conversations")
    # Null for conversations started from the command line without --user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="conversations",
    )
    title = models.CharField(max_length=200, blank=True)
    # A key of settings.CHAT_STRATEGIES (validated by the services, not `choices`).
    strategy = models.CharField(max_length=50)
    # Remote state per strategy key, e.g. {"file_search": {"conversation_id": "conv_..."}}.
    provider_state = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["user", "corpus", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class MessageRole(models.TextChoices):
    USER = "user", "Question"
    ASSISTANT = "assistant", "Answer"


class MessageStatus(models.TextChoices):
    COMPLETE = "complete", "Complete"
    STREAMING = "streaming", "Streaming"
    STOPPED = "stopped", "Stopped by the user"
    ERROR = "error", "Failed"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=MessageRole.choices)
    content = models.TextField(blank=True)
    # [{"number", "document_id", "document", "page", "page_end", "quote", "chunk_id",
    #   "char_start", "char_end"}]; numbers match the [n] markers in `content`.
    citations = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=12, choices=MessageStatus.choices, default=MessageStatus.COMPLETE
    )
    error = models.TextField(blank=True)
    notice = models.CharField(max_length=300, blank=True)  # e.g. "extractive answer"
    # False: the documents were found not to support an answer ("not found" in every interface).
    grounded = models.BooleanField(default=True)
    strategy = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    # Answers: the question they answer (regenerated answers share it).
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    # A regenerated answer or an edited question names the version it replaces; replaced
    # messages stay reachable as earlier versions but leave the history the model sees.
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replaced_by"
    )
    # Written while an answer streams (any web process may be generating it): the pressed Stop,
    # read by the generating thread, and its heartbeat, which tells a live answer from one
    # whose process died.
    stop_requested = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "id"]

    def __str__(self) -> str:
        return f"{self.get_role_display()} {self.pk}"

    @property
    def usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "model": self.model,
        }


class FeedbackRating(models.TextChoices):
    UP = "up", "Helpful"
    DOWN = "down", "Not helpful"


class Feedback(models.Model):
    """A user's verdict on one answer; giving feedback again replaces it."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="message_feedback"
    )
    rating = models.CharField(max_length=4, choices=FeedbackRating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="feedback_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.get_rating_display()} on message {self.message_id}"

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from api.scopes import ALL_CORPORA, Permission, Scope, scope_permissions, scope_slugs
from documents.models import Corpus, CorpusQuerySet, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class TokenState(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def for_user(self, user: User | AnonymousUser) -> ApiTokenQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(user=user)

    def active(self, *, now: dt.datetime | None = None) -> ApiTokenQuerySet:
        """Tokens that authenticate: not revoked, not expired, their user active."""
        now = now or timezone.now()
        return self.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            revoked_at__isnull=True,
            user__is_active=True,
        )

    def in_state(self, state: str, *, now: dt.datetime | None = None) -> ApiTokenQuerySet:
        now = now or timezone.now()
        if state == TokenState.REVOKED:
            return self.filter(revoked_at__isnull=False)
        if state == TokenState.EXPIRED:
            return self.filter(revoked_at__isnull=True, expires_at__lte=now)
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at=None)


class ApiToken(models.Model):
    """A personal access token for the HTTP API. The plaintext is shown once; only its SHA-256
    is kept (tokens are 256-bit random, so a slow hash would add nothing)."""

    MARKER = "dct_"
    PREFIX_LENGTH = 8

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The first characters after the marker: shown in lists, used to find the row.
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    # [{"corpus": "<slug>" | "*", "permissions": ["query", "ingest", "manage"]}]; see api/scopes.py
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The fixed rate-limit window this token is in, and its requests so far
    # (see services.token_rate_limit).
    rate_window_start = models.DateTimeField(null=True, blank=True, editable=False)
    rate_window_count = models.PositiveIntegerField(default=0, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix})"

    @property
    def display_prefix(self) -> str:
        return f"{self.MARKER}{self.prefix}…"

    @property
    def state(self) -> TokenState:
        if self.revoked_at is not None:
            return TokenState.REVOKED
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return TokenState.EXPIRED
        return TokenState.ACTIVE

    @property
    def scope_list(self) -> list[Scope]:
        return list(self.scopes or [])

    # --- access: a scope AND the user's role, evaluated on every request ------------------------

    def corpora(self, permission: Permission) -> CorpusQuerySet:
        """The corpora this token may use for `permission`."""
        granted = Corpus.objects.for_user(self.user, permission.role)
        slugs = scope_slugs(self.scope_list, permission.value)
        return granted if slugs is None else granted.filter(slug__in=slugs)

    def visible_corpora(self) -> CorpusQuerySet:
        """Corpora the token can see at all: the user reads them and some scope names them.
        Anything outside is a 404; inside, a missing permission is a 403."""
        readable = Corpus.objects.for_user(self.user, Role.READER)
        named = {scope["corpus"] for scope in self.scope_list if scope["permissions"]}
        return readable if ALL_CORPORA in named else readable.filter(slug__in=named)

    def allows(self, permission: Permission, corpus: Corpus) -> bool:
        if permission.value not in scope_permissions(self.scope_list, corpus.slug):
            return False
        return Corpus.objects.for_user(self.user, permission.role).filter(pk=corpus.pk).exists()


class ApiInterface(models.TextChoices):
    REST = "rest", "REST API"
    OPENAI = "openai", "OpenAI-compatible API"


class ApiConversation(models.Model):
    """Which token started a conversation, for usage accounting (chat does not know the API)."""

    conversation = models.OneToOneField(
        "chat.Conversation", on_delete=models.CASCADE, related_name="api_origin"
    )
    # Kept when a token is deleted: the conversation still came from the API.
    token = models.ForeignKey(
        ApiToken, null=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    interface = models.CharField(max_length=10, choices=ApiInterface.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API conversation"

    def __str__(self) -> str:
        return f"Conversation {self.conversation_id} via {self.get_interface_display()}"


class ConversationExtras(models.Model):
    """What the /v1/conversations API keeps on a Docent conversation beyond its messages: the
    client's metadata and its system/developer items (kept and listed, not answered from:
    Docent answers with its own prompt). Created on first use; chat does not know about it."""

    conversation = models.OneToOneField(
        "chat.Conversation", primary_key=True, on_delete=models.CASCADE, related_name="api_extras"
    )
    # Up to 16 string pairs, as OpenAI allows.
    metadata = models.JSONField(default=dict, blank=True)
    # [{"id", "type": "message", "role": "system" | "developer", "content": [...]}]
    instruction_items = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "API conversation extras"
        verbose_name_plural = "API conversation extras"

    def __str__(self) -> str:
        return f"Extras of conversation {self.conversation_id}"


class ApiResponseQuerySet(models.QuerySet["ApiResponse"]):
    def for_token(self, token: ApiToken) -> ApiResponseQuerySet:
        """Stored responses of the token's user, in corpora the token may still query."""
        return self.filter(
            user=token.user,
            stored=True,
            conversation__corpus__in=token.corpora(Permission.QUERY),
        )


class ApiResponse(models.Model):
    """One /v1/responses answer, kept for GET, `previous_response_id` and `input_items`. The
    question and answer themselves are messages of a Docent conversation; `output` and `usage`
    are snapshots of the wire so that deleting a conversation item does not rewrite history."""

    public_id = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_responses"
    )
    token = models.ForeignKey(
        ApiToken, null=True, on_delete=models.SET_NULL, related_name="responses"
    )
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="api_responses"
    )
    question = models.ForeignKey(
        "chat.Message", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    answer = models.ForeignKey(
        "chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # True when the client named the conversation (the wire's `conversation` field is set).
    in_conversation = models.BooleanField(default=False)
    # store=false: answered and kept as a Docent conversation, but not retrievable by id.
    stored = models.BooleanField(default=True)
    status = models.CharField(max_length=12, default="in_progress")
    # The request-echoing fields of the wire object (instructions, temperature, metadata, ...).
    envelope = models.JSONField(default=dict)
    input_items = models.JSONField(default=list)
    output = models.JSONField(default=list)
    usage = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ApiResponseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API response"

    def __str__(self) -> str:
        return self.public_id


# The Assistants v2 rows live in their own module; importing them registers them with this app.
from api.assistants.models import (  # noqa: E402, F401
    ApiFile,
    Assistant,
    AssistantThread,
    FileBatch,
    ThreadMessage,
    ThreadRun,
)

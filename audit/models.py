"""The audit log: one append-only row per security-relevant event.

Rows are written once and never changed: the ORM refuses updates and deletes, and a database
trigger (migration 0001) refuses them too, except for the retention purge, which asks for it
explicitly inside its own transaction (audit.services.audit_purge_expired).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """An attempt to change or delete an audit event."""


class Action(models.TextChoices):
    """Every event the log records. Stored as a plain string (no `choices` on the field), so a
    new action needs no migration; the admin's filter reads its labels from here."""

    SIGNIN = "auth.signin", "Signed in"
    SIGNIN_FAILED = "auth.signin_failed", "Sign-in failed"
    LOCKOUT = "auth.lockout", "Locked out (too many failed sign-ins)"
    SIGNOUT = "auth.signout", "Signed out"
    USER_CREATED = "user.created", "Account created"
    USER_DELETED = "user.deleted", "Account deleted"
    USER_ROLES_CHANGED = "user.roles_changed", "Account status changed (active, staff, superuser)"
    USER_GROUPS_CHANGED = "user.groups_changed", "Account groups changed"
    TOKEN_CREATED = "token.created", "API token created"
    TOKEN_FIRST_USED = "token.first_used", "API token used for the first time"
    TOKEN_REVOKED = "token.revoked", "API token revoked"
    MEMBERSHIP_CREATED = "membership.created", "Corpus shared"
    MEMBERSHIP_ROLE_CHANGED = "membership.role_changed", "Corpus role changed"
    MEMBERSHIP_DELETED = "membership.deleted", "Corpus sharing removed"
    CORPUS_CREATED = "corpus.created", "Corpus created"
    CORPUS_SETTINGS_CHANGED = "corpus.settings_changed", "Corpus strategy or model changed"
    CORPUS_REINDEX_REQUESTED = "corpus.reindex_requested", "Corpus re-index requested"
    CORPUS_DELETED = "corpus.deleted", "Corpus deleted"
    DOCUMENT_CREATED = "document.created", "Document uploaded"
    DOCUMENT_DELETED = "document.deleted", "Document deleted"
    CONVERSATION_DELETED = "conversation.deleted", "Someone else's conversation deleted"
    EXPORTED = "data.exported", "Data exported"
    PURGED = "audit.purged", "Audit events past retention removed"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit events cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit events cannot be deleted (only expired by retention).")

    def older_than(self, cutoff: Any) -> AuditEventQuerySet:
        return self.filter(occurred_at__lt=cutoff)


class AuditEvent(models.Model):
    """Who did what, when and from where.

    The actor and the target are kept as plain ids plus a label copied at the time: a foreign
    key would have to be cleared (an UPDATE) when the user or object is deleted, and the log
    must still say who it was.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    action = models.CharField(max_length=64, db_index=True, editable=False)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True, editable=False)
    # The username at the time, or what was typed in a failed sign-in; blank = the system.
    actor_label = models.CharField(max_length=254, blank=True, editable=False)
    # "web", "api" (token), or "system" (a worker, a command, a periodic task).
    channel = models.CharField(max_length=10, editable=False)
    client_address = models.GenericIPAddressField(null=True, blank=True, editable=False)
    user_agent = models.CharField(max_length=300, blank=True, editable=False)
    target_type = models.CharField(max_length=50, blank=True, editable=False)
    target_id = models.CharField(max_length=64, blank=True, editable=False)
    target_label = models.CharField(max_length=300, blank=True, editable=False)
    corpus_id = models.BigIntegerField(null=True, blank=True, db_index=True, editable=False)
    details = models.JSONField(default=dict, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]

    def __str__(self) -> str:
        who = self.actor_label or "system"
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {who} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit events cannot be deleted (only expired by retention).")

    @property
    def action_label(self) -> str:
        try:
            return str(Action(self.action).label)
        except ValueError:
            return self.action

    def as_json(self) -> dict[str, Any]:
        """One line of the JSON-lines export."""
        return {
            "id": self.pk,
            "occurred_at": self.occurred_at.isoformat(),
            "action": self.action,
            "actor_id": self.actor_id,
            "actor": self.actor_label,
            "channel": self.channel,
            "client_address": self.client_address,
            "user_agent": self.user_agent,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "target": self.target_label,
            "corpus_id": self.corpus_id,
            "details": self.details,
        }

from __future__ import annotations

from django.db import models
from django.utils import timezone


class JobRow(models.Model):
    """The fields documents/jobs.py claims, leases and fails a background job's row by (a
    document's ingestion, a re-index); each kind adds its own `status`."""

    error = models.TextField(blank=True)  # human-readable reason when failed
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

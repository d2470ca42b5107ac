from __future__ import annotations

from django.db import models
from django.utils import timezone


class JobRow(models.Model):
    """The fields documents/jobs.py claims, leases and fails a background job's row by (a
    document's ingestion, a re-index); each kind adds its own `status`."""

    error = models.TextField(blank=True)  # human-readable reason when failed
    # Claims that ended without an outcome (the worker died), plus the current one; provider
    # retries are counted apart in `retries` (documents/jobs.py).
    attempts = models.PositiveSmallIntegerField(default=0)
    retries = models.PositiveSmallIntegerField(default=0)
    # The claim's holder: its task message ("<task id>#<retry number>"), so that the same
    # message redelivered after its worker was lost takes the job back at once.
    claim_token = models.CharField(max_length=100, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

"""One claim / lease / retry mechanism for every kind of background job on a row.

A job row (a Document being ingested, a CorpusReindex, ...) carries `status`, `attempts`,
`lease_expires_at`, `queued_at`, `started_at`, `finished_at` and `error`. A worker claims it with
a conditional UPDATE (queued, or running with an expired lease), which counts an attempt; while
it holds the claim it renews the lease; every later write goes through the `Lease`'s queryset,
which matches only while this claim is the current one, so a worker whose lease was taken over
writes nothing. Something that finds a row stuck past its lease (or queued with no message)
enqueues it again. Healthchecks' and HackSoft's "claim with a conditional UPDATE" pattern.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobStates:
    """The status values a kind of job uses, and its name in log lines."""

    name: str  # "document", "re-index"
    queued: str
    running: str
    failed: str


@dataclass(frozen=True)
class Lease:
    """A claim this worker holds: `rows` matches the job row only while the claim is ours."""

    rows: models.QuerySet[Any]
    attempt: int
    states: JobStates

    def renew(self, **updates: Any) -> bool:
        """Extend the lease (and write `updates`); False when the claim was taken over."""
        return bool(self.rows.update(lease_expires_at=lease_until(), **updates))

    def requeue(self, *, error: str = "", **updates: Any) -> bool:
        """Give the row back to the queue for a retry (the claim ends)."""
        return bool(
            self.rows.update(
                status=self.states.queued,
                error=error,
                lease_expires_at=None,
                queued_at=timezone.now(),
                **updates,
            )
        )

    def fail(self, reason: str, **updates: Any) -> bool:
        return fail(self.rows, states=self.states, reason=reason, **updates) > 0

    @property
    def interrupted(self) -> int:
        """How many earlier claims ended without an outcome (the worker died)."""
        return self.attempt - 1


def lease_until() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.INGEST_LEASE_SECONDS)


def claim(
    queryset: models.QuerySet[Any], *, pk: int, states: JobStates, **updates: Any
) -> Lease | None:
    """Take the job for this worker; None if it is finished, deleted or held by a live lease.

    `updates` are written with the claim (a stage, a progress reset, ...).
    """
    now = timezone.now()
    claimed = (
        queryset.filter(pk=pk)
        .filter(Q(status=states.queued) | Q(status=states.running, lease_expires_at__lt=now))
        .update(
            status=states.running,
            attempts=F("attempts") + 1,
            lease_expires_at=lease_until(),
            **updates,
        )
    )
    if not claimed:
        logger.info("%s %s: not claimable (finished, deleted or taken)", states.name, pk)
        return None
    attempt = int(queryset.filter(pk=pk).values_list("attempts", flat=True).get())
    rows = queryset.filter(pk=pk, attempts=attempt, status=states.running)
    return Lease(rows=rows, attempt=attempt, states=states)


def fail(queryset: models.QuerySet[Any], *, states: JobStates, reason: str, **updates: Any) -> int:
    """Mark the rows failed with `reason` (a sentence for the user); how many were."""
    return int(
        queryset.update(
            status=states.failed,
            error=reason,
            lease_expires_at=None,
            finished_at=timezone.now(),
            **updates,
        )
    )


def stale(
    queryset: models.QuerySet[Any], *, states: JobStates, now: dt.datetime | None = None
) -> models.QuerySet[Any]:
    """Rows whose worker died (lease ran out) or whose queue message was lost (queued for much
    longer than a job waits for a free worker)."""
    now = now or timezone.now()
    queued_before = now - dt.timedelta(seconds=settings.INGEST_LEASE_SECONDS * 5)
    return queryset.filter(
        Q(status=states.running, lease_expires_at__lt=now)
        | Q(status=states.queued, queued_at__lt=queued_before)
    )


def requeue_stale(
    queryset: models.QuerySet[Any],
    *,
    states: JobStates,
    enqueue: Callable[[int], None],
    now: dt.datetime | None = None,
) -> int:
    """Enqueue every stale row again; how many there were. `enqueue(pk)` publishes the job's
    message (inside `transaction.on_commit`)."""
    now = now or timezone.now()
    found = list(stale(queryset, states=states, now=now).values_list("pk", "status"))
    for pk, status in found:
        if status == states.queued:
            queryset.filter(pk=pk, status=status).update(queued_at=now)
        logger.warning("%s %s is stale (%s); queueing it again", states.name, pk, status)
        with transaction.atomic():
            enqueue(pk)
    return len(found)


def gave_up_reason(error: BaseException) -> str:
    """What a job says once its task ran out of retries."""
    return f"Gave up after repeated temporary errors: {error}"


__all__ = [
    "JobStates",
    "Lease",
    "claim",
    "fail",
    "gave_up_reason",
    "lease_until",
    "requeue_stale",
    "stale",
]

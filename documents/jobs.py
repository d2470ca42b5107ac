"""One claim / lease / retry mechanism for every kind of background job on a row.

A job row (a Document being ingested, a CorpusReindex, ...) carries `status`, `attempts`,
`lease_expires_at`, `queued_at`, `started_at`, `finished_at` and `error`. A worker claims it with
a conditional UPDATE (queued, or running with an expired lease), which counts an attempt; while
it holds the claim it renews the lease; every later write goes through the `Lease`'s queryset,
which matches only while this claim is the current one, so a worker whose lease was taken over
writes nothing. Something that finds a row stuck past its lease (or queued with no message)
enqueues it again. Healthchecks' and HackSoft's "claim with a conditional UPDATE" pattern.

`attempts` counts interruptions (claims that ended with no outcome because the worker died)
plus the current claim; a temporary provider error gives the claim back with `retry_later`,
which counts in `retries` instead. A claim records its task message as `claim_token`
("<task id>#<retry number>"): the same message delivered again (its worker was lost: the
out-of-memory killer took the pool child) takes the job back at once instead of waiting for
the lease, and a retry of the same task (after a database outage) resumes it uncounted.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, F, Q, When
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

    def retry_later(self, *, error: str = "", **updates: Any) -> bool:
        """Give the row back after a temporary provider error: counted in `retries`, not as
        an interruption."""
        return self.requeue(
            error=error, attempts=F("attempts") - 1, retries=F("retries") + 1, **updates
        )

    def fail(self, reason: str, **updates: Any) -> bool:
        return fail(self.rows, states=self.states, reason=reason, **updates) > 0

    def held(self) -> bool:
        """Whether the claim is still ours (the row was not deleted, finished or taken over)."""
        return self.rows.exists()

    @property
    def interrupted(self) -> int:
        """How many earlier claims ended without an outcome (the worker died)."""
        return self.attempt - 1


def lease_until() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.INGEST_LEASE_SECONDS)


def claim_token(task_id: str | None, retries: int = 0) -> str:
    """The token a task message claims with (empty outside a worker: claim as a newcomer)."""
    return f"{task_id}#{retries}" if task_id else ""


def claim(
    queryset: models.QuerySet[Any],
    *,
    pk: int,
    states: JobStates,
    token: str = "",
    **updates: Any,
) -> Lease | None:
    """Take the job for this worker; None if it is finished, deleted or held by a live lease.

    `token` (from `claim_token`) names the task message claiming. The row is claimable when
    queued, when its lease ran out, or when the current claim is this message's own: the same
    token means the message was delivered again because its worker died (an interruption);
    the same task id with another retry number means this task retried after an error that
    left the claim behind (the database was unreachable), which is not counted.
    `updates` are written with the claim (a stage, a progress reset, ...).
    """
    now = timezone.now()
    claimable = Q(status=states.queued) | Q(status=states.running, lease_expires_at__lt=now)
    attempts: Any = F("attempts") + 1
    if token:
        task = token.rsplit("#", 1)[0] + "#"
        claimable |= Q(status=states.running, claim_token__startswith=task)
        attempts = Case(
            When(
                Q(status=states.running, claim_token__startswith=task) & ~Q(claim_token=token),
                then=F("attempts"),
            ),
            default=F("attempts") + 1,
        )
    before = queryset.filter(pk=pk).values_list("status", "claim_token").first()
    claimed = (
        queryset.filter(pk=pk)
        .filter(claimable)
        .update(
            status=states.running,
            attempts=attempts,
            lease_expires_at=lease_until(),
            claim_token=token,
            **updates,
        )
    )
    if not claimed:
        logger.info("%s %s: not claimable (finished, deleted or taken)", states.name, pk)
        return None
    if token and before is not None and before[0] == states.running:
        if before[1] == token:
            logger.warning(
                "%s %s: its message came back after the worker was lost; taking it over",
                states.name,
                pk,
            )
        elif before[1].startswith(token.rsplit("#", 1)[0] + "#"):
            logger.info("%s %s: resuming after the previous try stopped", states.name, pk)
    attempt = int(queryset.filter(pk=pk).values_list("attempts", flat=True).get())
    rows = queryset.filter(pk=pk, attempts=attempt, status=states.running, claim_token=token)
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
    queryset: models.QuerySet[Any],
    *,
    states: JobStates,
    now: dt.datetime | None = None,
    waiting_messages: int | None = None,
) -> models.QuerySet[Any]:
    """Rows whose worker died (the lease ran out) or whose queue message was lost.

    A queued row's message is taken for lost only when it has waited longer than a lease and
    the queue holds no message (`waiting_messages`, read from the broker): while there is a
    backlog, rows queued behind it are waiting, not stuck. When the broker cannot say
    (None), a queued row must have waited five leases.
    """
    now = now or timezone.now()
    lease = dt.timedelta(seconds=settings.INGEST_LEASE_SECONDS)
    running = Q(status=states.running, lease_expires_at__lt=now)
    if waiting_messages is None:
        return queryset.filter(running | Q(status=states.queued, queued_at__lt=now - lease * 5))
    if waiting_messages > 0:
        return queryset.filter(running)
    return queryset.filter(running | Q(status=states.queued, queued_at__lt=now - lease))


def requeue_stale(
    queryset: models.QuerySet[Any],
    *,
    states: JobStates,
    enqueue: Callable[[int], None],
    now: dt.datetime | None = None,
    waiting_messages: int | None = None,
) -> int:
    """Enqueue every stale row again; how many there were. `enqueue(pk)` publishes the job's
    message (inside `transaction.on_commit`)."""
    now = now or timezone.now()
    found = list(
        stale(queryset, states=states, now=now, waiting_messages=waiting_messages).values_list(
            "pk", "status"
        )
    )
    for pk, status in found:
        if status == states.queued:
            queryset.filter(pk=pk, status=status).update(queued_at=now)
        logger.warning("%s %s is stale (%s); queueing it again", states.name, pk, status)
        with transaction.atomic():
            enqueue(pk)
    return len(found)


def waiting_messages(queue: str = "") -> int | None:
    """How many messages wait in the broker's `queue` (default: the jobs' queue); None when
    the broker cannot say."""
    from celery import current_app

    queue = queue or current_app.conf.task_default_queue
    try:
        with current_app.connection_for_read() as connection:
            # Not passive: kombu's Redis transport checks a passive declare's queue without
            # CELERY_BROKER_KEY_PREFIX and finds none; declaring creates nothing on Redis or
            # the filesystem transport, and the count is right.
            declared = connection.default_channel.queue_declare(queue=queue)
    except Exception as error:  # any broker, any failure: fall back to the time rule
        logger.info("could not count the messages in queue %s: %s", queue, error)
        return None
    return int(declared.message_count)


_WILL_RETRY = re.compile(r"[;,.]?\s*(will retry|will check again later)[^.]*\.?\s*$", re.I)


def final_reason(error: str | BaseException) -> str:
    """A temporary error's sentence once nothing will retry it: without "will retry"."""
    text = _WILL_RETRY.sub("", str(error)).strip()
    return text if text.endswith(".") else f"{text}."


def gave_up_reason(error: BaseException) -> str:
    """What a job says once its task ran out of retries."""
    return f"{final_reason(error)} Gave up after repeated temporary errors."


__all__ = [
    "JobStates",
    "Lease",
    "claim",
    "claim_token",
    "fail",
    "final_reason",
    "gave_up_reason",
    "lease_until",
    "requeue_stale",
    "stale",
    "waiting_messages",
]

"""Writing, exporting and expiring audit events."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from audit.context import current_request, origin
from audit.models import Action, AuditEvent

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet
    from django.http import HttpRequest

logger = logging.getLogger(__name__)


def audit_record(
    *,
    action: Action | str,
    target: Model | None = None,
    target_type: str = "",
    target_id: Any = "",
    target_label: str = "",
    corpus_id: int | None = None,
    details: dict[str, Any] | None = None,
    actor: Any = None,
    actor_label: str = "",
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Record one event. Who and from where come from the request being handled (or the one
    given); without one the event is the system's. `target` fills the target fields from a
    model instance; explicit values win."""
    where = origin(request=request, actor=actor)
    who = where.actor
    if target is not None:
        target_type = target_type or target._meta.model_name or ""
        target_id = target_id or target.pk
        target_label = target_label or str(target)
    event = AuditEvent(
        action=str(action),
        actor_id=who.pk if who is not None else None,
        actor_label=_text(actor_label or (who.get_username() if who is not None else ""), 254),
        channel=where.channel,
        client_address=where.client_address,
        user_agent=_text(where.user_agent, 300),
        target_type=_text(target_type, 50),
        target_id=_text(str(target_id if target_id is not None else ""), 64),
        target_label=_text(target_label, 300),
        corpus_id=corpus_id,
        # Round-tripped so that dates, UUIDs and decimals are stored as the export shows them;
        # PostgreSQL refuses NUL in text and JSON, and a typed name may hold one.
        details=_without_nul(json.loads(json.dumps(details or {}, cls=DjangoJSONEncoder))),
    )
    event.save()
    logger.info("audit event %s %s by %s", event.pk, event.action, event.actor_id)
    return event


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def _text(value: str, limit: int) -> str:
    return value.replace("\x00", "")[:limit]


def audit_export(
    *, what: str, fmt: str, count: int, request: HttpRequest | None = None
) -> AuditEvent:
    """Record an export (of the audit log, answer provenance, ...) by whoever is making the
    current request, with the filter in its query string."""
    request = request if request is not None else current_request()
    return audit_record(
        action=Action.EXPORTED,
        target_type="export",
        target_label=f"{what}: {count} rows",
        details={
            "what": what,
            "format": fmt,
            "rows": count,
            "filter": request.GET.urlencode() if request is not None else "",
        },
        request=request,
    )


def audit_export_lines(*, events: QuerySet[AuditEvent], request: HttpRequest) -> Iterator[str]:
    """The events as JSON lines, oldest first. The export is itself recorded, with the filter
    that chose the events, before the first line is produced."""
    audit_export(what="audit log", fmt="jsonl", count=events.count(), request=request)
    for event in events.order_by("occurred_at", "id").iterator(chunk_size=2000):
        yield json.dumps(event.as_json(), cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"


def audit_purge_expired(*, now: dt.datetime | None = None) -> int:
    """Remove events older than AUDIT_RETENTION_DAYS (0 keeps everything); records how many
    were removed. The only deletion the database trigger lets through."""
    days = settings.AUDIT_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL ends with this transaction at the latest.
        cursor.execute("SET LOCAL docent.audit_purge = 'on'")
        cursor.execute(
            f"DELETE FROM {AuditEvent._meta.db_table} WHERE occurred_at < %s",  # noqa: S608
            [cutoff],
        )
        removed: int = cursor.rowcount
        # Also closed at once, in case this runs inside a longer transaction.
        cursor.execute("SET LOCAL docent.audit_purge = 'off'")
    if removed:
        audit_record(
            action=Action.PURGED,
            target_type="auditevent",
            target_label=f"{removed} audit events",
            details={"removed": removed, "before": cutoff, "retention_days": days},
        )
    logger.info("audit purge removed %s events older than %s", removed, cutoff)
    return removed

from __future__ import annotations

from celery import shared_task

from audit import services


@shared_task(name="audit.tasks.audit_purge_expired", acks_late=True, ignore_result=True)
def audit_purge_expired() -> int:
    return services.audit_purge_expired()

"""Thin Celery wrappers: ids in, one service call."""

from __future__ import annotations

from celery import shared_task

from evaluation import provenance


@shared_task(name="evaluation.tasks.provenance_purge")
def provenance_purge() -> None:
    provenance.provenance_purge()

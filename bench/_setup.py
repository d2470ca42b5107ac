"""Shared set-up for the benchmark scripts: Django, data paths and small statistics helpers."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DOCENT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def django_setup() -> None:
    """Django on its own database (docent_bench on the local server unless DATABASE_URL is
    set), migrated, so benchmark data never mixes with the app's."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("LOCAL_DATABASE_NAME", "docent_bench")
    import django
    from django.core.management import call_command

    from config.bootstrap import prepare_local_defaults

    prepare_local_defaults()
    django.setup()
    call_command("migrate", verbosity=0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")

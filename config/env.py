"""The environment, parsed strictly: shared by the settings and the entry points' bootstrap.

An empty variable means its default, as in `.env.example`, where most are left empty. Anything
else must parse: a typo stops start-up with ImproperlyConfigured naming the variable, instead of
quietly becoming `False` or a traceback from `int()`.

Reading the environment is all this module does; it never touches the disk.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

CHECKOUT = Path(__file__).resolve().parent.parent
DEFAULT_BROKER_URL = "filesystem://"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    """1/0, true/false, yes/no, on/off in any case; empty = `default`."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={os.environ[name]!r} is not a boolean: use 1/0, true/false, yes/no or on/off."
    )


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    """Comma-separated; empty = `default`."""
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_json_object(name: str) -> dict[str, Any]:
    """A JSON object; empty = {}."""
    value = env_str(name)
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object ({{...}}).")
    return parsed


# --- Where the local defaults live (used when DATABASE_URL / CELERY_BROKER_URL are unset) -----


def data_dir() -> Path:
    """The local database, broker queue, uploads and generated secret key live here."""
    return Path(env_str("DOCENT_DATA_DIR", str(CHECKOUT / ".data"))).resolve()


def local_database_name() -> str:
    # The benchmarks and each test run can use their own database on the same local server.
    return env_str("LOCAL_DATABASE_NAME", "docent")


def filesystem_broker_folders() -> dict[str, Path] | None:
    """Folders of kombu's filesystem transport, or None when another broker is configured."""
    if not env_str("CELERY_BROKER_URL", DEFAULT_BROKER_URL).startswith("filesystem://"):
        return None
    root = Path(env_str("CELERY_BROKER_DIR", str(data_dir() / "broker")))
    return {"queue": root / "queue", "processed": root / "processed", "control": root / "control"}


def filesystem_broker_options() -> dict[str, Any]:
    """CELERY_BROKER_TRANSPORT_OPTIONS for those folders ({} for another broker)."""
    folders = filesystem_broker_folders()
    if folders is None:
        return {}
    return {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
        "store_processed": False,
        # kombu polls a filesystem queue and sleeps 1 s whenever it finds nothing to take,
        # which includes every time a worker is busy with its one prefetched task: a drop of
        # small documents went at one a second (60 a minute against Redis's 324). A tenth of a
        # second costs a directory listing ten times a second when idle.
        "polling_interval": 0.1,
    }

"""What the defaults of a fresh checkout need before Django reads the settings.

Importing the settings only reads the environment (STYLE.md): no files written, no database
started. That I/O happens here instead, and every entry point runs it before the settings are
read: manage.py, config/asgi.py and config/wsgi.py call `prepare_local_defaults()` first, the
Celery app when it loads its configuration (worker, beat), pytest through config/pytest_plugin.py.
What the settings need from it travels through os.environ, so that child processes see it too.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from config.env import data_dir, env_str, filesystem_broker_folders, local_database_name

logger = logging.getLogger(__name__)

# The variables that decide what preparing does; a second call with the same values is a no-op
# (the Celery app prepares again in processes an entry point already prepared).
_INPUTS = (
    "DATABASE_URL",
    "SECRET_KEY",
    "DOCENT_DATA_DIR",
    "LOCAL_DATABASE_NAME",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_DIR",
)
_prepared: set[tuple[str, ...]] = set()


def prepare_local_defaults() -> None:
    """Make the local defaults usable, for whichever of them the environment leaves in place.

    - kombu's filesystem broker (CELERY_BROKER_URL unset or filesystem://): create its folders.
    - No DATABASE_URL: export SECRET_KEY, unless set, from a key generated once and kept in
      DOCENT_DATA_DIR/secret_key; start the project-local PostgreSQL server (or find it
      running), create LOCAL_DATABASE_NAME on it and export where it listens as
      LOCAL_DATABASE_HOST / LOCAL_DATABASE_PORT.
    """
    if _inputs() in _prepared:
        return
    folders = filesystem_broker_folders()
    for folder in (folders or {}).values():
        folder.mkdir(parents=True, exist_ok=True)
    if not env_str("DATABASE_URL"):
        root = data_dir()
        if not env_str("SECRET_KEY"):
            os.environ["SECRET_KEY"] = local_secret_key(path=root / "secret_key")
        from config import localdb

        server = localdb.ensure_server(data_dir=root / "postgres", database=local_database_name())
        # Always the server's own answer: an inherited value may describe another data dir.
        os.environ["LOCAL_DATABASE_HOST"] = server.host
        os.environ["LOCAL_DATABASE_PORT"] = str(server.port)
    _prepared.add(_inputs())


def local_secret_key(*, path: Path) -> str:
    """The key kept beside the local database, generated on first use, readable by its owner."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return local_secret_key(path=path)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(50))
        logger.info("generated a secret key in %s", path)
    return path.read_text().strip()


def _inputs() -> tuple[str, ...]:
    return tuple(os.environ.get(name, "") for name in _INPUTS)

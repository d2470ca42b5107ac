#!/usr/bin/env python3
"""Set up and run Docent on a fresh machine with nothing but Python 3.11+.

    python3 dev.py run     install what is needed, then run the web server and Celery workers
                           (DEBUG off; add --debug, or set DEBUG=1, for Django's debug pages)
    python3 dev.py test    install what is needed (test tools, the browser), then run every test
    python3 dev.py stop    stop the project-local PostgreSQL server

Everything lives in the checkout: the virtualenv in .venv/, the database, queue and uploads in
.data/. Set DATABASE_URL / CELERY_BROKER_URL to use your own PostgreSQL (with pgvector) / Redis.
Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("DOCENT_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
# The CPU build of torch; installed before the project so that nothing pulls a larger build.
TORCH = "torch==2.13.0"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def say(message: str) -> None:
    print(f"[docent] {message}", flush=True)


def run(*cmd: str | Path, **kwargs: object) -> None:
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)  # type: ignore[call-overload]


def ensure_python() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file must run on any python3
        sys.exit("Docent needs Python 3.11 or newer; this is " + sys.version.split()[0])


def ensure_venv(extras: str = "[dev]") -> None:
    """Create .venv and install the project once; reinstall when pyproject.toml changes."""
    if not PYTHON.exists():
        say(f"creating a virtual environment in {VENV.relative_to(ROOT)}/")
        try:
            venv.create(VENV, with_pip=True)
        except Exception as error:
            sys.exit(
                f"Could not create a virtual environment ({error}). On Debian/Ubuntu install "
                "the python3-venv package and try again."
            )
    stamp = VENV / ".docent-installed"
    wanted = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + extras.encode() + TORCH.encode()
    ).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say("installing dependencies (the first time takes a few minutes)")
    pip = [PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    run(*pip, "--upgrade", "pip")
    run(*pip, TORCH)
    run(*pip, "-e", f".{extras}", cwd=ROOT)
    stamp.write_text(wanted)


def manage(*args: str, env: dict[str, str] | None = None) -> None:
    run(PYTHON, ROOT / "manage.py", *args, cwd=ROOT, env=env)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def local_db_in_use() -> bool:
    return not os.environ.get("DATABASE_URL")


def local_db_running() -> bool:
    pid_file = Path(os.environ.get("DOCENT_DATA_DIR", ROOT / ".data")) / "postgres/postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (OSError, ValueError):
        return False
    return True


def stop_local_db() -> None:
    if local_db_in_use() and local_db_running():
        manage("localdb", "stop")


def run_environment(args: list[str], environ: dict[str, str]) -> dict[str, str]:
    """The environment `dev.py run` serves with, given its options and the caller's."""
    unknown = [arg for arg in args if arg != "--debug"]
    if unknown:
        sys.exit(f"dev.py run: unknown option {unknown[0]} (the only one is --debug)")
    env = dict(environ)
    # DEBUG shows tracebacks and every URL pattern to anyone who meets an error: only on request.
    if "--debug" in args:
        env["DEBUG"] = "1"
    if not env.get("DEBUG", "").strip():
        env["DEBUG"] = "0"
    if not env.get("SITE_URL", "").startswith("https://"):
        # Served over plain HTTP: a browser would not send cookies marked Secure back to a
        # non-local host, so signing in would fail. Behind HTTPS, set SITE_URL=https://...
        for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
            if not env.get(name, "").strip():
                env[name] = "0"
    return env


def worker_commands(env: dict[str, str]) -> list[list[str | Path]]:
    """Two workers: documents and housekeeping (settings.HOUSEKEEPING_QUEUE) with beat, and
    large documents (settings.INGEST_LARGE_QUEUE) apart, so that small files never wait
    behind a long one."""
    celery = [BIN / "celery", "-A", "config", "worker", "--loglevel=INFO"]
    concurrency = f"--concurrency={env.get('WORKER_CONCURRENCY', '1')}"
    schedule = Path(env.get("DOCENT_DATA_DIR", ROOT / ".data")) / "celerybeat-schedule"
    housekeeping = env.get("HOUSEKEEPING_QUEUE", "housekeeping")
    return [
        [*celery, "-n", "documents@%h", "-Q", f"celery,{housekeeping}", concurrency,
         "--beat", "--schedule", schedule],
        [*celery, "-n", "large@%h", "-Q", env.get("INGEST_LARGE_QUEUE", "large"), concurrency],
    ]  # fmt: skip


def command_run(args: list[str]) -> int:
    env = run_environment(args, dict(os.environ))
    ensure_venv()
    host = env.get("HOST", "127.0.0.1")
    port = int(env.get("PORT", "8000"))
    if port_open(host, port):
        sys.exit(f"Port {port} is already in use. Set PORT=8001 (for example) and try again.")
    manage("migrate", "--noinput", env=env)
    manage("ensureadmin", env=env)
    web = [BIN / "uvicorn", "config.asgi:application", "--host", host, "--port", str(port)]
    processes = [
        subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env)
        for cmd in (web, *worker_commands(env))
    ]
    for _ in range(100):
        if port_open(host, port) or any(p.poll() is not None for p in processes):
            break
        time.sleep(0.2)
    say(f"Docent is running at http://{host}:{port}/  (admin: http://{host}:{port}/admin/)")
    if env["DEBUG"].strip().lower() in {"1", "true", "yes", "on"}:
        say("DEBUG is on: errors show tracebacks and settings; never use it in production")
    say("press Ctrl-C to stop the web server, the workers and the local database")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        for process in processes:
            if process.poll() is not None:
                say(f"{Path(process.args[0]).name} exited with {process.returncode}; stopping")
                code = process.returncode or 1
                stopping = True
        time.sleep(0.3)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    stop_local_db()
    return code


def ensure_chromium() -> str | None:
    """Debian's chromium for the browser tests (Playwright drives it; it never downloads one)."""
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        say("installing Debian's chromium for the browser tests")
        result = subprocess.run(
            [apt, "install", "-y", "-q", "--no-install-recommends", "chromium"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            check=False,
        )
        if result.returncode != 0:
            subprocess.run([apt, "update", "-q"], check=False)
            subprocess.run(
                [apt, "install", "-y", "-q", "--no-install-recommends", "chromium"],
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                check=False,
            )
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return None


def command_test(pytest_args: list[str]) -> int:
    ensure_venv()
    env = dict(os.environ)
    chromium = env.get("CHROMIUM_PATH") or ensure_chromium()
    if chromium:
        env["CHROMIUM_PATH"] = chromium
    else:
        say("!" * 70)
        say("Chromium is not installed and could not be installed (needs root and apt-get).")
        say("The browser end-to-end tests will be SKIPPED. Install chromium and rerun.")
        say("!" * 70)
    db_was_running = local_db_running()
    try:
        return subprocess.run([PYTHON, "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode
    finally:
        if not db_was_running:
            stop_local_db()


def main() -> int:
    ensure_python()
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command == "run":
        return command_run(sys.argv[2:])
    if command == "test":
        return command_test(sys.argv[2:])
    if command == "stop":
        ensure_venv()
        stop_local_db()
        return 0
    print(__doc__)
    return 0 if command in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    sys.exit(main())

"""The running app for the browser tests: uvicorn serving config.asgi and a Celery worker,
both subprocesses on the test database with kombu's filesystem broker, and headless Chromium.

Needs a Chromium binary (CHROMIUM_PATH or /usr/bin/chromium); browsers are never downloaded.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from playwright.sync_api import expect

from documents import services as document_services
from documents.models import Corpus, CorpusMembership, Role
from tests.conftest import PASSWORD
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
TIMEOUT_MS = 120_000


@dataclass(frozen=True)
class App:
    url: str
    media_root: Path
    log_dir: Path

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-6000:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(autouse=True)
def _expect_timeout() -> Iterator[None]:
    """Playwright's expect waits as long as the pages may take on a loaded CI machine."""
    expect.set_options(timeout=TIMEOUT_MS)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"END-TO-END BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}. Install Debian's "
            "chromium package (apt-get install chromium) or set CHROMIUM_PATH; Playwright's own "
            "browser downloads are never used."
        )
    return CHROMIUM


def app_env(base: Path, **extra: str) -> dict[str, str]:
    """The environment of the app's processes: the test database, files under `base`."""
    db = connection.settings_dict
    host = quote(db["HOST"], safe="") if db["HOST"] else "localhost"
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}",
        "SECRET_KEY": "end-to-end-test-key",
        "DEBUG": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DOCENT_DATA_DIR": str(base / "data"),
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_DIR": str(base / "broker"),
        "MEDIA_ROOT": str(base / "media"),
        "INGEST_REQUEUE_INTERVAL_SECONDS": "3600",
        "LOG_LEVEL": "INFO",
        **extra,
    }


def start_web(env: dict[str, str], port: int, log) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_until_up(web: subprocess.Popen[bytes], app: App) -> None:
    deadline = time.monotonic() + 90
    while True:
        if web.poll() is not None:
            pytest.fail(f"uvicorn exited with {web.returncode}\n{app.logs()}")
        try:
            with urllib.request.urlopen(f"{app.url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"uvicorn did not answer within 90 s\n{app.logs()}")
        time.sleep(0.3)


@contextmanager
def web_process(env: dict[str, str], base: Path, name: str = "web") -> Iterator[App]:
    """One more uvicorn process on the test database (its log in base/logs/<name>.log),
    answering on its own port until the block ends."""
    log_dir = base / "logs"
    log_dir.mkdir(exist_ok=True)
    port = _free_port()
    app = App(url=f"http://127.0.0.1:{port}", media_root=base / "media", log_dir=log_dir)
    with (log_dir / f"{name}.log").open("w") as log:
        web = start_web(env, port, log)
        try:
            wait_until_up(web, app)
            yield app
        finally:
            _stop(web)


@pytest.fixture(scope="session")
def live_app(django_db_setup, tmp_path_factory, chromium_path) -> Iterator[App]:
    """uvicorn + a Celery worker on the test database, for the whole session."""
    base = tmp_path_factory.mktemp("live-app")
    port = _free_port()
    env = app_env(base)
    log_dir = base / "logs"
    log_dir.mkdir()
    web_log = (log_dir / "web.log").open("w")
    worker_log = (log_dir / "worker.log").open("w")
    web = start_web(env, port, web_log)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency=1",
         "--loglevel=INFO", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    app = App(url=f"http://127.0.0.1:{port}", media_root=base / "media", log_dir=log_dir)
    try:
        wait_until_up(web, app)
        yield app
    finally:
        _stop(web)
        _stop(worker)
        web_log.close()
        worker_log.close()


@pytest.fixture(scope="module")
def browser(chromium_path):
    """Playwright's sync API runs an event loop in this thread for as long as it is open, so
    the ORM calls these tests make need DJANGO_ALLOW_ASYNC_UNSAFE (this module only)."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def corpus(db) -> Corpus:
    return document_services.corpus_create(
        name="Staff handbook",
        slug="handbook",
        description="Leave, working from home and expenses: the rules every employee follows.",
    )


def member(corpus: Corpus, username: str, role: Role):
    user = UserFactory(username=username, first_name=username.capitalize())
    CorpusMembership.objects.create(corpus=corpus, user=user, role=role)
    return user


def drop_files(page, selector: str, files: list[tuple[str, bytes, str]]) -> None:
    """What a browser does when files are dragged from the desktop onto the element."""
    data = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, base64, mime] of files) {
                const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, { type: mime }));
            }
            return transfer;
        }""",
        [[name, base64.b64encode(content).decode(), mime] for name, content, mime in files],
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": data})
    page.dispatch_event(selector, "dragover", {"dataTransfer": data})
    page.dispatch_event(selector, "drop", {"dataTransfer": data})


@contextmanager
def browser_page(browser, app: App, tmp_path: Path, **options) -> Iterator[tuple[object, list]]:
    """A page of a new browser context (the LAPTOP viewport unless `options` say otherwise) and
    the JavaScript errors it raises; a failing test leaves tmp_path/failure.png and prints the
    server's log."""
    context = browser.new_context(**{"viewport": LAPTOP, **options})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page, errors
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(app.logs())
        raise
    finally:
        context.close()


def sign_in(page, app: App, username: str) -> None:
    page.goto(f"{app.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{app.url}/")


def ask(page, question: str) -> None:
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")


def answered(page, question: str):
    """Ask, and return the answer once the server has rendered it in full."""
    ask(page, question)
    answer = page.locator("article.answer").last
    expect(answer.locator(".answer-footer")).to_be_visible()
    return answer


@pytest.fixture(autouse=True)
def _no_content_security_policy_violations(request) -> Iterator[None]:
    """Every browser test also checks that the UI it clicks through passes the site's
    Content-Security-Policy: Chromium reports each blocked script, style or request as a
    console error naming the policy."""
    if "browser" not in request.fixturenames:
        yield
        return
    browser = request.getfixturevalue("browser")
    violations: list[str] = []
    original = browser.new_context

    def watched(*args, **kwargs):
        context = original(*args, **kwargs)

        def watch(page) -> None:
            page.on(
                "console",
                lambda message: (
                    violations.append(f"{page.url}: {message.text}")
                    if "Content Security Policy" in message.text
                    else None
                ),
            )

        context.on("page", watch)
        return context

    browser.new_context = watched
    try:
        yield
    finally:
        browser.new_context = original
    assert not violations, "the page broke its Content-Security-Policy:\n" + "\n".join(violations)


def accessibility_problems(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.x A and AA
    and best practices), one line per rule with the elements it found. axe.min.js comes in the
    axe-playwright-python package (the dev extra); Playwright injects it past the page's
    Content-Security-Policy, as a browser extension would."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"resultTypes": ["violations"]})
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]

"""docs/examples/assistants_file_search.py, an Assistants + file_search program written for
openai-python 1.x, runs unmodified against the live app: only OPENAI_BASE_URL, OPENAI_API_KEY
and the vector store's name change. The SDK that still has `client.beta.assistants` (1.x) is
installed from the package registry into .cache/openai-1.x once and reused."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connections

from api.assistants.models import AssistantThread
from documents import services as document_services
from documents.models import Document, DocumentStatus
from tests.api.conftest import ROOT, make_corpora, make_people, token_for

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = ROOT / "docs" / "examples" / "assistants_file_search.py"
LEGACY_ENV = ROOT / ".cache" / "openai-1.x"
LEGACY_SDK = "openai>=1.66,<2"  # 1.66 moved vector stores out of beta; 2.0 dropped nothing yet


def _legacy_python() -> Path:
    python = LEGACY_ENV / "bin" / "python"
    check = [str(python), "-c", "import openai, sys; sys.exit(openai.__version__[0] != '1')"]
    if python.exists() and subprocess.run(check, check=False).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(LEGACY_ENV)], check=True)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", LEGACY_SDK],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, f"pip could not install {LEGACY_SDK}:\n{install.stderr}"
    return python


@pytest.fixture(scope="session")
def legacy_python() -> Path:
    return _legacy_python()


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def corpora(people):
    return make_corpora(people)


def _ingest_uploads(stop: threading.Event) -> None:
    """The worker's part: ingest what the program uploads (the live app has no worker)."""
    try:
        while not stop.wait(0.3):
            for pk in Document.objects.filter(status=DocumentStatus.QUEUED, corpus__slug="policies"
                                              ).values_list("pk", flat=True):  # fmt: skip
                document_services.document_ingest(document_id=pk)
    finally:
        connections.close_all()


def test_the_legacy_assistants_program_gets_cited_answers(
    legacy_python, live_app, people, corpora, fake_openai, tmp_path, settings
):
    settings.MEDIA_ROOT = str(live_app.log.parent / "media")  # to ingest what the app stored
    upload = tmp_path / "parking.md"
    upload.write_text("# Parking\n\nStaff park in the north garage from 7 am on weekdays.\n")
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("OPENAI_", "DJANGO"))
    }
    env.update(
        OPENAI_BASE_URL=f"{live_app.url}/v1",
        OPENAI_API_KEY=token_for(people.contributor, ["policies:query,ingest"]),
        VECTOR_STORE="Policies",
        UPLOAD=str(upload),
        FOLLOW_UP="Where do staff park?",
    )
    stop = threading.Event()
    worker = threading.Thread(target=_ingest_uploads, args=(stop,), daemon=True)
    worker.start()
    try:
        result = subprocess.run(
            [str(legacy_python), str(EXAMPLE), "How much is the meal allowance abroad?"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        stop.set()
        worker.join(timeout=30)
    output = result.stdout
    assert result.returncode == 0, f"{result.stderr}\n{output}\n{live_app.log.read_text()[-4000:]}"
    assert "Vector store: Policies (vs_policies), 1 files" in output
    assert "Uploaded: completed" in output
    # The run's answer, annotations replaced by [n] and the cited files named.
    assert "45 euros" in output
    assert "[0] meals.md" in output
    assert "【" not in output.split("assistant > ")[0]
    # The streamed follow-up, printed delta by delta, then annotated.
    streamed = output.split("assistant > ")[-1]
    assert "north garage" in streamed
    assert "parking.md" in streamed
    thread_id = output.strip().splitlines()[-1].removeprefix("Thread: ")
    thread = AssistantThread.objects.get(public_id=thread_id)
    assert thread.conversation.user == people.contributor
    assert thread.conversation.messages.count() == 4

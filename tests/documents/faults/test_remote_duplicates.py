"""No duplicate remote files: an upload OpenAI stored but never answered (too slow for the
client's timeout, or the connection died) is found and reused by the retry."""

from __future__ import annotations

import pytest

from documents.models import Document
from tests.documents.faults.conftest import settled, upload, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TEXT = "# Leave\n\nEvery employee has thirty days of paid leave per year.\n"


@pytest.mark.parametrize("fault", ["slow", "dropped"])
def test_an_upload_stored_but_not_answered_is_reused_not_repeated(
    fault, fault_env, worker_factory, publish, remote_corpus, fake_openai
):
    fault_env["OPENAI_TIMEOUT_SECONDS"] = "3"
    worker = worker_factory(fault_env)
    fake_openai.processing_polls = 0
    if fault == "slow":
        fake_openai.slow_next("POST", r"^/v1/files$", seconds=6, times=3)
    else:
        fake_openai.drop_next("POST", r"^/v1/files$")
    document = upload(remote_corpus, "leave.md", TEXT)
    publish(document.pk)

    wait_for(lambda: settled(document), timeout=120, what="the document", worker=worker)

    document = Document.objects.get(pk=document.pk)
    assert document.status == "ready", document.error
    assert list(fake_openai.state.files) == [document.remote_file_id]
    assert len(fake_openai.requests_to("POST", r"^/v1/files$")) == 1
    assert "an earlier try uploaded file" in worker.log

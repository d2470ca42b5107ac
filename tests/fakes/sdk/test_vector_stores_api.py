"""Vector stores, their files and file batches, ingestion and search (vector_stores_api.py)."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.sdk.helpers import (
    DRILL,
    FIGURES_QUESTION,
    SAW,
    filings,
    indexed_store,
    upload,
)


def test_create_and_poll_reaches_completed_honouring_the_poll_header(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.poll_after_ms = "7"
    slept: list[float] = []
    monkeypatch.setattr(client.vector_stores.files, "_sleep", slept.append)
    store = client.vector_stores.create()
    file_id = upload(client, "manual.txt", DRILL)

    done = client.vector_stores.files.create_and_poll(
        file_id, vector_store_id=store.id, attributes={"docent_document_id": "42"}
    )

    assert (done.id, done.status, done.last_error) == (file_id, "completed", None)
    assert done.attributes == {"docent_document_id": "42"}
    assert done.usage_bytes == len(DRILL.encode())
    assert slept == [0.007]
    polls = fake_openai.requests_to("GET", rf"/vector_stores/{store.id}/files/{file_id}$")
    assert len(polls) == 2
    assert polls[0].headers["x-stainless-poll-helper"] == "true"
    assert client.vector_stores.retrieve(store.id).file_counts.completed == 1


def test_vector_stores_crud_and_pagination(client: openai.OpenAI) -> None:
    created = [client.vector_stores.create(name=f"s{i}") for i in range(3)]
    unnamed = client.vector_stores.create(expires_after={"anchor": "last_active_at", "days": 2})
    assert unnamed.name is None
    assert unnamed.expires_at == unnamed.last_active_at + 2 * 86400

    first = client.vector_stores.list(limit=2)
    assert [s.id for s in first.data] == [unnamed.id, created[2].id]
    assert first.has_more is True
    rest = client.vector_stores.list(limit=2, after=first.data[-1].id)
    assert [s.id for s in rest.data] == [created[1].id, created[0].id]
    assert rest.has_more is False
    assert [s.id for s in client.vector_stores.list(order="asc", before=created[2].id)] == [
        created[0].id,
        created[1].id,
    ]
    renamed = client.vector_stores.update(created[0].id, name="renamed", metadata={"k": "v"})
    assert (renamed.name, renamed.metadata) == ("renamed", {"k": "v"})
    assert client.vector_stores.delete(created[0].id).object == "vector_store.deleted"
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(created[0].id)


def test_vector_store_files_filter_update_and_delete(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    store_id, ids = indexed_store(client, {"drill.txt": DRILL, "saw.txt": SAW})
    pending = client.vector_stores.files.create(
        vector_store_id=store_id, file_id=upload(client, "later.txt", "later")
    )
    assert pending.status == "in_progress"

    completed = client.vector_stores.files.list(vector_store_id=store_id, filter="completed")
    assert {f.id for f in completed} == set(ids.values())
    updated = client.vector_stores.files.update(
        ids["saw.txt"], vector_store_id=store_id, attributes={"docent_document_id": "99"}
    )
    assert updated.attributes == {"docent_document_id": "99"}
    gone = client.vector_stores.files.delete(ids["saw.txt"], vector_store_id=store_id)
    assert (gone.id, gone.object, gone.deleted) == (
        ids["saw.txt"],
        "vector_store.file.deleted",
        True,
    )
    content = client.vector_stores.files.content(ids["drill.txt"], vector_store_id=store_id)
    assert "".join(part.text or "" for part in content) == DRILL


def test_file_batches_create_poll_list_and_cancel(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    store = client.vector_stores.create()
    file_ids = [upload(client, f"f{i}.txt", f"document number {i}") for i in range(3)]

    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=file_ids, attributes={"docent_document_id": "1"}
    )

    assert batch.id.startswith("vsfb_")
    assert batch.object == "vector_store.file_batch"
    assert (batch.status, batch.file_counts.completed, batch.file_counts.total) == (
        "completed",
        3,
        3,
    )
    listed = client.vector_stores.file_batches.list_files(
        batch.id, vector_store_id=store.id, limit=2
    )
    assert len(listed.data) == 2
    assert listed.has_more is True
    assert {f.attributes["docent_document_id"] for f in listed.data} == {"1"}

    other = client.vector_stores.file_batches.create(
        vector_store_id=store.id,
        files=[
            {"file_id": upload(client, "x.txt", "x"), "attributes": {"docent_document_id": "8"}}
        ],
    )
    assert other.status == "in_progress"
    cancelled = client.vector_stores.file_batches.cancel(other.id, vector_store_id=store.id)
    assert (cancelled.status, cancelled.file_counts.cancelled) == ("cancelled", 1)


def test_files_set_to_fail_end_failed_with_last_error(
    client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.fail_file_processing("broken-*.txt", code="invalid_file", message="Cannot parse.")
    store = client.vector_stores.create()

    broken = client.vector_stores.files.create_and_poll(
        upload(client, "broken-1.txt", "x"), vector_store_id=store.id, poll_interval_ms=1
    )
    image = client.vector_stores.files.create_and_poll(
        upload(client, "photo.png", b"\x89PNG"), vector_store_id=store.id, poll_interval_ms=1
    )

    assert broken.status == "failed"
    assert broken.last_error is not None
    assert (broken.last_error.code, broken.last_error.message) == ("invalid_file", "Cannot parse.")
    assert image.last_error is not None
    assert image.last_error.code == "unsupported_file"
    assert client.vector_stores.retrieve(store.id).file_counts.failed == 2


def test_pdf_text_is_extracted_and_searchable(client: openai.OpenAI) -> None:
    store = client.vector_stores.create()
    pdf = _minimal_pdf("The turbine needs service every 400 hours.")
    file_id = upload(client, "turbine.pdf", pdf)

    done = client.vector_stores.files.create_and_poll(
        file_id, vector_store_id=store.id, poll_interval_ms=1
    )

    assert done.status == "completed"
    results = client.vector_stores.search(store.id, query="turbine service interval")
    assert [r.file_id for r in results] == [file_id]
    assert "400 hours" in results.data[0].content[0].text


def _minimal_pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 20 200 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_search_ranks_the_right_file_and_applies_filters(client: openai.OpenAI) -> None:
    store_id, ids = indexed_store(client, {"drill.txt": DRILL, "saw.txt": SAW})

    page = client.vector_stores.search(store_id, query="How much does the Z9 saw weigh?")
    assert page.data[0].file_id == ids["saw.txt"]
    assert page.data[0].filename == "saw.txt"
    assert page.data[0].attributes == {"docent_document_id": "2"}
    assert all(0 < r.score <= 1 for r in page.data)
    assert page.data[0].score > page.data[-1].score

    only_drill = client.vector_stores.search(
        store_id,
        query="warranty",
        filters={"type": "eq", "key": "docent_document_id", "value": "1"},
    )
    assert [r.file_id for r in only_drill] == [ids["drill.txt"]]
    either = client.vector_stores.search(
        store_id,
        query=["warranty", "kilograms"],
        filters={
            "type": "or",
            "filters": [
                {"type": "in", "key": "docent_document_id", "value": ["1", "2"]},
                {"type": "gt", "key": "missing", "value": 3},
            ],
        },
        max_num_results=1,
        rewrite_query=True,
    )
    assert len(either.data) == 1
    assert client.vector_stores.search(store_id, query="bananas").data == []


def test_search_ranks_the_file_with_the_rare_query_word_first_with_falling_scores(
    client: openai.OpenAI,
) -> None:
    store_id, _ = indexed_store(client, filings())

    page = client.vector_stores.search(store_id, query=FIGURES_QUESTION)

    names = [r.filename for r in page.data]
    assert names[0] == "zephyr.txt"
    # The legal filings share no query word; the other figure filings match all but "Zephyr".
    assert sorted(names[1:]) == ["bolt.txt", "delta.txt", "flint.txt"]
    scores = [r.score for r in page.data]
    assert all(0 < score < 1 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1]


def test_search_score_threshold_and_max_num_results_cut_the_ranking(
    client: openai.OpenAI,
) -> None:
    store_id, _ = indexed_store(client, filings())
    ranked = client.vector_stores.search(store_id, query=FIGURES_QUESTION).data

    cut = (ranked[0].score + ranked[1].score) / 2
    above = client.vector_stores.search(
        store_id, query=FIGURES_QUESTION, ranking_options={"score_threshold": cut}
    )
    assert [r.filename for r in above.data] == ["zephyr.txt"]
    top_two = client.vector_stores.search(store_id, query=FIGURES_QUESTION, max_num_results=2)
    assert [(r.file_id, r.score) for r in top_two.data] == [
        (r.file_id, r.score) for r in ranked[:2]
    ]
    with pytest.raises(openai.BadRequestError, match="score_threshold"):
        client.vector_stores.search(
            store_id, query=FIGURES_QUESTION, ranking_options={"score_threshold": 1.5}
        )


def test_search_filters_narrow_the_candidates_not_the_word_statistics(
    client: openai.OpenAI,
) -> None:
    store_id, ids = indexed_store(client, filings())
    ranked = client.vector_stores.search(store_id, query=FIGURES_QUESTION).data
    bolt = next(r for r in ranked if r.filename == "bolt.txt")

    only_bolt = client.vector_stores.search(
        store_id,
        query=FIGURES_QUESTION,
        filters={"type": "eq", "key": "docent_document_id", "value": "2"},
    ).data

    assert [(r.file_id, r.score) for r in only_bolt] == [(ids["bolt.txt"], bolt.score)]

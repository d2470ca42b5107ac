from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from documents.models import Corpus, Document

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_ingest_requires_create_for_a_new_corpus(tmp_path):
    (tmp_path / "a.txt").write_text("text")
    with pytest.raises(CommandError, match="--create"):
        run("ingest", "--corpus", "new", str(tmp_path))
    assert not Corpus.objects.exists()


def test_ingest_walks_directories_and_reports_each_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# A\n\nThe cafeteria opens at eight.")
    (tmp_path / "sub" / "b.txt").write_text("Parking permits are renewed in January.")
    (tmp_path / ".hidden").write_text("ignored")
    output = run("ingest", "--corpus", "kb", "--create", "--inline", str(tmp_path))
    assert "Created corpus 'kb' (pgvector)" in output
    assert "a.md: ready (1 pages, 1 chunks)" in output
    assert "b.txt: ready (1 pages, 1 chunks)" in output
    assert "2 documents in corpus 'kb'; 0 rejected; 0 failed." in output
    assert Document.objects.filter(corpus__slug="kb", status="ready").count() == 2


def test_ingest_exits_non_zero_and_says_why_when_a_file_fails(tmp_path, fixture_docs):
    (tmp_path / "ok.txt").write_text("The library lends books for three weeks.")
    # A scan is read by OCR now; a password-protected PDF still cannot be read.
    scan = fixture_docs / "pdf-encrypted" / "password.pdf"
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command(
            "ingest", "--corpus", "kb", "--create", "--inline", str(tmp_path / "ok.txt"),
            str(scan), stdout=out,
        )  # fmt: skip
    assert error.value.returncode == 1
    assert "password.pdf: failed:" in out.getvalue()
    assert "password" in out.getvalue().split("password.pdf: failed:")[1].lower()


def test_ingest_reports_duplicates(tmp_path):
    (tmp_path / "a.txt").write_text("Same content.")
    (tmp_path / "b.txt").write_text("Same content.")
    output = run("ingest", "--corpus", "kb", "--create", "--inline", str(tmp_path))
    assert "b.txt: duplicate of document" in output
    assert Document.objects.count() == 1


def test_search_prints_json_with_document_page_score_and_text(tmp_path):
    (tmp_path / "a.md").write_text("# Canteen\n\nThe canteen serves soup every Thursday.")
    run("ingest", "--corpus", "kb", "--create", "--inline", str(tmp_path))
    hits = json.loads(run("search", "--corpus", "kb", "--json", "--k", "3", "soup day"))
    assert hits[0]["document"] == "a.md"
    assert hits[0]["page"] == 1
    assert hits[0]["document_id"] == Document.objects.get().pk
    assert "Thursday" in hits[0]["text"]
    assert hits[0]["score"] > 0


def test_search_prints_readable_results(tmp_path):
    (tmp_path / "a.md").write_text("# Canteen\n\nThe canteen serves soup every Thursday.")
    run("ingest", "--corpus", "kb", "--create", "--inline", str(tmp_path))
    output = run("search", "--corpus", "kb", "soup")
    assert output.startswith("1. a.md (p. 1) score ")


def test_search_unknown_corpus_is_a_clear_error():
    with pytest.raises(CommandError, match="No corpus"):
        run("search", "--corpus", "nope", "anything")


# --- acting for a user --------------------------------------------------------------------------


@pytest.fixture
def people(db):
    from documents import services
    from documents.models import CorpusMembership
    from tests.factories import UserFactory

    corpus = services.corpus_create(name="KB", slug="kb")
    people = {
        "reader": UserFactory(username="rita"),
        "contributor": UserFactory(username="carl"),
        "outsider": UserFactory(username="oscar"),
        "root": UserFactory(username="root", is_superuser=True),
    }
    CorpusMembership.objects.create(corpus=corpus, user=people["reader"], role="reader")
    CorpusMembership.objects.create(corpus=corpus, user=people["contributor"], role="contributor")
    return people


@pytest.mark.parametrize("who", ["outsider", "reader"])
def test_ingest_refuses_users_who_may_not_add_documents(tmp_path, people, who):
    (tmp_path / "a.txt").write_text("The library lends books for three weeks.")
    username = people[who].username
    with pytest.raises(
        CommandError, match=f"User '{username}' may not add documents to the corpus"
    ):
        run("ingest", "--corpus", "kb", "--user", username, "--inline", str(tmp_path))
    assert not Document.objects.exists()


@pytest.mark.parametrize("who", ["contributor", "root"])
def test_ingest_acts_for_contributors_and_superusers(tmp_path, people, who):
    (tmp_path / "a.txt").write_text("The library lends books for three weeks.")
    run("ingest", "--corpus", "kb", "--user", people[who].username, "--inline", str(tmp_path))
    assert Document.objects.get().uploaded_by == people[who]


def test_ingest_refuses_to_create_a_corpus_for_a_user_who_is_not_a_superuser(tmp_path, people):
    (tmp_path / "a.txt").write_text("The library lends books for three weeks.")
    with pytest.raises(CommandError, match="may not create corpora"):
        run("ingest", "--corpus", "new", "--create", "--user", "carl", str(tmp_path))
    assert not Corpus.objects.filter(slug="new").exists()


def test_ingest_names_an_unknown_user(tmp_path, people):
    (tmp_path / "a.txt").write_text("text")
    with pytest.raises(CommandError, match="No user 'nobody'"):
        run("ingest", "--corpus", "kb", "--user", "nobody", str(tmp_path))


def test_search_refuses_users_who_may_not_read_the_corpus(people):
    with pytest.raises(CommandError, match="User 'oscar' may not read the corpus 'kb'"):
        run("search", "--corpus", "kb", "--user", "oscar", "anything")
    people["reader"].is_active = False
    people["reader"].save()
    with pytest.raises(CommandError, match="inactive"):
        run("search", "--corpus", "kb", "--user", "rita", "anything")


def test_search_acts_for_a_reader(people):
    assert run("search", "--corpus", "kb", "--user", "rita", "anything") == (
        "No matching passages.\n"
    )

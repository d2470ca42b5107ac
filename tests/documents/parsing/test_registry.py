"""documents/parsing/registry.py: parsers declare what they read; the rest is built from that."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from documents import services
from documents.models import CorpusMembership, Document, Role
from documents.parsing import (
    ParseError,
    ParseErrorCode,
    Parser,
    detect_format,
    parse_file,
    parsers,
    supported_extensions,
    supported_formats_text,
    upload_accept,
)
from documents.parsing.registry import DEFAULT_PARSERS, build_registry, formats_markdown
from tests.documents.parsing import fake_note
from tests.factories import UserFactory

README = Path(__file__).resolve().parents[3] / "README.md"
_README_TABLE = re.compile(
    r"<!-- formats: start.*?-->\n(?P<table>.*?)<!-- formats: end -->", re.DOTALL
)


def test_every_registered_parser_follows_the_protocol_under_its_own_name() -> None:
    keys = {"pdf", "docx", "pptx", "xlsx", "csv", "html", "markdown", "text", "epub", "image"}
    assert set(parsers()) == keys
    for key, parser in parsers().items():
        assert isinstance(parser, Parser)
        assert parser.name == key


def test_supported_extensions_cover_every_format() -> None:
    expected = {".pdf", ".docx", ".pptx", ".xlsx", ".xlsm", ".csv", ".html", ".md", ".txt", ".epub"}
    assert expected <= supported_extensions()
    assert ".doc" not in supported_extensions()


def test_formats_are_listed_in_registry_order_with_office_extensions() -> None:
    assert supported_formats_text() == (
        "PDF, Word (.docx), PowerPoint (.pptx), Excel (.xlsx/.xlsm), CSV, HTML, Markdown, "
        "plain text, EPUB and images (PNG, JPEG, TIFF)"
    )
    assert supported_formats_text(detailed=False) == (
        "PDF, Word, PowerPoint, Excel, CSV, HTML, Markdown, plain text, EPUB and images (PNG, "
        "JPEG, TIFF)"
    )


def test_the_upload_accept_list_is_every_declared_extension() -> None:
    accepted = upload_accept().split(",")

    assert set(accepted) == supported_extensions()
    assert accepted == sorted(accepted)


def test_the_readme_lists_the_formats_the_registry_declares() -> None:
    match = _README_TABLE.search(README.read_text(encoding="utf-8"))

    assert match is not None, "README.md lost its <!-- formats: start/end --> markers"
    expected = formats_markdown(build_registry(DEFAULT_PARSERS))
    assert match["table"] == expected, f"Replace the README's formats table with:\n{expected}"


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        ((*DEFAULT_PARSERS, DEFAULT_PARSERS[0]), "two parsers are named 'pdf'"),
        (("collections.Counter",), "Parser protocol"),
    ],
)
def test_a_broken_registry_is_refused_at_start(paths: tuple[str, ...], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        build_registry(paths)


def test_two_parsers_may_not_claim_the_same_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        fake_note.NoteParser,
        "declaration",
        dataclasses.replace(fake_note.NoteParser.declaration, extensions=(".txt",)),
    )

    with pytest.raises(ImproperlyConfigured, match=r"\.txt is declared by both 'text' and 'note'"):
        build_registry((*DEFAULT_PARSERS, fake_note.PATH))


# --- a format registered by the tests alone -----------------------------------------------------


@pytest.fixture
def with_notes(settings: object) -> None:
    settings.DOCUMENT_PARSERS = [*DEFAULT_PARSERS, fake_note.PATH]  # type: ignore[attr-defined]


NOTE = fake_note.MAGIC + b"Saw a heron at the lake.\n===\nThe heron left at noon.\n"


def test_a_registered_format_is_detected_listed_and_parsed(
    with_notes: None, tmp_path: Path
) -> None:
    path = tmp_path / "lake.note"
    path.write_bytes(NOTE)

    assert detect_format(path, filename="lake.note") == "note"
    assert detect_format(path, filename="lake") == "note"  # its bytes are enough
    assert ".note" in upload_accept().split(",")
    assert supported_formats_text().endswith("images (PNG, JPEG, TIFF) and Field notes")
    document = parse_file(path, filename="lake.note")
    assert document.parser == "note"
    assert [(page.label, page.text) for page in document.pages] == [
        ("Note 1", "Saw a heron at the lake."),
        ("Note 2", "The heron left at noon."),
    ]


def test_a_registered_format_gives_its_own_no_text_message(
    with_notes: None, tmp_path: Path
) -> None:
    path = tmp_path / "blank.note"
    path.write_bytes(fake_note.MAGIC + b"\n===\n  \n")

    with pytest.raises(ParseError) as caught:
        parse_file(path, filename="blank.note")

    assert caught.value.code == ParseErrorCode.NO_TEXT
    assert str(caught.value) == "This note is blank."


def test_a_format_is_unknown_once_it_is_no_longer_registered(tmp_path: Path) -> None:
    path = tmp_path / "lake.note"
    path.write_bytes(NOTE)

    assert ".note" not in upload_accept()
    assert detect_format(path, filename="lake.note") == "text"


@pytest.mark.django_db
def test_a_registered_format_is_offered_uploaded_and_ingested(with_notes: None) -> None:
    corpus = services.corpus_create(name="Field work", slug="field-work")
    contributor = UserFactory(username="carl")
    CorpusMembership.objects.create(corpus=corpus, user=contributor, role=Role.CONTRIBUTOR)
    client = Client()
    client.force_login(contributor)

    page = client.get("/c/field-work/documents/").content.decode()
    accept = re.search(r'accept="([^"]*)"', page)
    assert accept is not None
    assert ".note" in accept[1].split(",")
    assert "EPUB, images (PNG, JPEG, TIFF) and Field notes, up to" in page

    response = client.post(
        "/c/field-work/documents/upload",
        {"file": SimpleUploadedFile("lake.note", NOTE, content_type="application/octet-stream")},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 201
    services.document_ingest(document_id=response.json()["id"])

    document = Document.objects.get(pk=response.json()["id"])
    assert document.status == "ready", document.error
    assert document.parser == "note"
    assert list(document.pages.values_list("label", flat=True)) == ["Note 1", "Note 2"]

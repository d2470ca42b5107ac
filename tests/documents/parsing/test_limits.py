"""What reading one file may cost (documents/parsing/limits.py, issue 13): decompression bombs
are refused from the ZIP directory before anything is inflated, each parse runs in a child
process bounded in memory and time, and XML entity bombs are refused in plain words."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import docx
import pytest

from documents import services
from documents.models import DocumentStatus
from documents.parsing import ParseError, ParseErrorCode, parse_file
from documents.parsing.limits import ENTITY_BOMB_MESSAGE
from tests.conftest import FIXTURE_DOCS

PARAGRAPH = "<w:p><w:r><w:t>The meal allowance is forty five euros a day.</w:t></w:r></w:p>"
MB = 1024 * 1024


def word_file(path: Path, *, xml_mb: float = 0, doctype: str = "", body: str = "") -> Path:
    """A real .docx (made by python-docx) whose document.xml holds `xml_mb` MB of paragraphs."""
    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Travel expenses")
    document.save(buffer)
    source = zipfile.ZipFile(buffer)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for member in source.infolist():
            data = source.read(member.filename)
            if member.filename == "word/document.xml":
                text = data.decode()
                padding = PARAGRAPH * int(xml_mb * MB / len(PARAGRAPH))
                text = text.replace("<w:body>", f"<w:body>{body}{padding}", 1)
                if doctype:
                    text = text.replace("?>", f"?>{doctype}", 1)
                data = text.encode()
            package.writestr(member, data)
    return path


def with_member(source: Path, target: Path, name: str, data: bytes) -> Path:
    """`source` (a real package) with one more member."""
    with (
        zipfile.ZipFile(source) as original,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as package,
    ):
        for member in original.infolist():
            package.writestr(member, original.read(member.filename))
        package.writestr(name, data)
    return target


def parse_error(path: Path) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_file(path, filename=path.name)
    return caught.value


# --- before parsing -------------------------------------------------------------------------------


def test_a_small_docx_holding_40_mb_of_xml_is_refused_before_it_is_inflated(tmp_path):
    bomb = word_file(tmp_path / "bomb.docx", xml_mb=40)
    assert bomb.stat().st_size < 400_000  # the probe's was 63 KB

    error = parse_error(bomb)

    assert error.code == ParseErrorCode.TOO_LARGE
    assert "word/document.xml" in str(error)
    assert "unpacks to 40 MB" in str(error)
    assert "decompression bomb" in str(error)


@pytest.mark.parametrize(
    "fixture",
    ["pptx/powerpoint_sample.pptx", "xlsx/stanley-cups.xlsx", "epub/winter-sports.epub"],
)
def test_every_zip_format_is_bounded_by_part_size(tmp_path, fixture):
    source = FIXTURE_DOCS / fixture
    assert parse_file(source, filename=source.name).pages  # reads as it is
    padded = with_member(
        source, tmp_path / source.name, "customXml/item9.xml", b"<a>" + b" " * (33 * MB) + b"</a>"
    )

    error = parse_error(padded)

    assert error.code == ParseErrorCode.TOO_LARGE
    assert "customXml/item9.xml" in str(error)


def test_a_package_of_too_many_parts_is_refused(tmp_path, settings):
    settings.DOCUMENT_MAX_ZIP_ENTRIES = 50
    path = tmp_path / "many.docx"
    word_file(tmp_path / "plain.docx")
    with (
        zipfile.ZipFile(tmp_path / "plain.docx") as original,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package,
    ):
        for member in original.infolist():
            package.writestr(member, original.read(member.filename))
        for number in range(60):
            package.writestr(f"word/media/image{number}.png", b"x")

    error = parse_error(path)

    assert error.code == ParseErrorCode.TOO_LARGE
    assert "more than the 50 a document may have" in str(error)


def test_a_package_too_large_in_total_is_refused(tmp_path, settings):
    settings.DOCUMENT_MAX_UNPACKED_BYTES = 2 * MB
    source = word_file(tmp_path / "plain.docx")
    path = with_member(source, tmp_path / "images.docx", "word/media/big.png", b"\0" * (3 * MB))

    error = parse_error(path)

    assert error.code == ParseErrorCode.TOO_LARGE
    assert "more than the 2 MB a document may hold" in str(error)


# --- while parsing: memory and time ---------------------------------------------------------------


def test_a_parse_over_the_memory_bound_fails_in_plain_words(tmp_path, settings):
    settings.PARSE_MAX_MEMORY_BYTES = 64 * MB
    path = word_file(tmp_path / "large.docx", xml_mb=20)  # under the part limit

    error = parse_error(path)

    assert error.code == ParseErrorCode.TOO_LARGE
    assert str(error).startswith("Reading this file needed more than 64 MB of memory")
    # This process (the worker) is untouched and reads the next file.
    assert parse_file(word_file(tmp_path / "small.docx"), filename="small.docx").pages


def test_a_parse_over_the_time_bound_is_stopped(tmp_path, settings):
    settings.PARSE_MAX_SECONDS = 1
    path = word_file(tmp_path / "slow.docx", xml_mb=25)

    error = parse_error(path)

    assert error.code == ParseErrorCode.TOO_LARGE
    assert str(error).startswith("Reading this file took longer than 1 second,")


def test_the_parse_runs_in_a_child_process_unless_unbounded(tmp_path, settings, monkeypatch):
    seen: list[int] = []
    from documents.parsing import word

    original = word.DocxParser.parse

    def spy(self, path, *, max_pages):
        seen.append(os.getpid())
        return original(self, path, max_pages=max_pages)

    monkeypatch.setattr(word.DocxParser, "parse", spy)
    path = word_file(tmp_path / "a.docx")
    assert parse_file(path, filename="a.docx").pages
    assert seen == []  # read by the child, not here

    settings.PARSE_MAX_SECONDS = 0
    settings.PARSE_MAX_MEMORY_BYTES = 0
    assert parse_file(path, filename="a.docx").pages
    assert seen == [os.getpid()]


# --- XML bombs ------------------------------------------------------------------------------------

LAUGHS = (
    '<!DOCTYPE w:document [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    + "]>"
)


def test_billion_laughs_is_refused_in_plain_words(tmp_path):
    path = word_file(
        tmp_path / "laughs.docx", doctype=LAUGHS, body="<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>"
    )

    error = parse_error(path)

    assert str(error) == ENTITY_BOMB_MESSAGE
    assert "xmlCtxt" not in str(error)
    assert "amplification" not in str(error)


# --- ingestion ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ingesting_a_bomb_fails_the_document_and_the_next_one_is_read(tmp_path, settings):
    settings.PARSE_MAX_MEMORY_BYTES = 64 * MB
    corpus = services.corpus_create(name="Handbook", slug="handbook")
    bomb = services.document_upload_path(
        corpus=corpus, path=word_file(tmp_path / "large.docx", xml_mb=20)
    ).document
    plain = services.document_upload_path(
        corpus=corpus, path=word_file(tmp_path / "plain.docx")
    ).document

    services.document_ingest(document_id=bomb.pk)
    services.document_ingest(document_id=plain.pk)

    bomb.refresh_from_db()
    plain.refresh_from_db()
    assert bomb.status == DocumentStatus.FAILED
    assert "needed more than 64 MB of memory" in bomb.error
    assert plain.status == DocumentStatus.READY

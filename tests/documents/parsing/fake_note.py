"""A format that exists only in the tests: "field notes", pages separated by "===" lines.

It shows that a new format needs one parser module and one entry in DOCUMENT_PARSERS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from documents.parsing import FormatDeclaration, ParsedDocument, ParsedPage, Probe
from documents.parsing.base import Markup, check_page_count, corrupt

if TYPE_CHECKING:
    from pathlib import Path

MAGIC = b"%NOTE-1\n"
PATH = "tests.documents.parsing.fake_note.NoteParser"


def _sniff(probe: Probe) -> bool:
    return probe.head.startswith(MAGIC)


class NoteParser:
    name = "note"
    markup: Markup = "text"
    declaration = FormatDeclaration(
        name="Field notes",
        extensions=(".note",),
        mime_types=("application/x-field-note",),
        container="binary",
        sniff=_sniff,
        no_text_message="This note is blank.",
    )

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument:
        try:
            body = path.read_bytes().removeprefix(MAGIC).decode("utf-8")
        except UnicodeDecodeError as error:
            raise corrupt("the note is not UTF-8") from error
        pieces = body.split("\n===\n")
        check_page_count(len(pieces), max_pages=max_pages)
        return ParsedDocument(
            pages=[
                ParsedPage(number=number, text=text, label=f"Note {number}")
                for number, text in enumerate(pieces, start=1)
            ],
            parser=self.name,
            markup=self.markup,
        )

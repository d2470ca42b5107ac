"""The parsing contract: a file in, its pages of text out, or a ParseError with a plain reason."""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import charset_normalizer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path


class ParseErrorCode(StrEnum):
    UNSUPPORTED = "unsupported_format"
    ENCRYPTED = "encrypted"
    CORRUPT = "corrupt"
    NO_TEXT = "no_text"
    TOO_LARGE = "too_large"
    EMPTY = "empty"
    OCR_UNAVAILABLE = "ocr_unavailable"  # only OCR could read it, and OCR is off or broken

    @property
    def permanent(self) -> bool:
        """Whether this file fails the same way whatever the settings: processing it again
        cannot help, only a different file can. Text that only OCR could find, or a file over
        a configured limit, may work once an administrator turns OCR on or raises the limit."""
        return self in _PERMANENT


_PERMANENT = frozenset(
    {
        ParseErrorCode.UNSUPPORTED,
        ParseErrorCode.ENCRYPTED,
        ParseErrorCode.CORRUPT,
        ParseErrorCode.EMPTY,
    }
)


class ParseError(Exception):
    """The file cannot be turned into text. `str(error)` is shown to users as is.

    Parsing errors are never worth retrying: the same bytes give the same result.
    """

    retryable = False

    def __init__(self, message: str, *, code: ParseErrorCode) -> None:
        super().__init__(message)
        self.code = code


# "markdown" when headings are marked with '#', so the chunker can split at them.
Markup = Literal["text", "markdown"]


@dataclass(frozen=True)
class ParsedPage:
    number: int  # 1-based, in reading order
    text: str
    label: str = ""  # how a citation names it when "page N" would mislead: "Slide 3", "Sheet: Q3"
    ocr: bool = False  # the text was read by OCR from a picture of the page
    ocr_confidence: float | None = None  # the OCR engine's mean confidence, 0..1


@dataclass(frozen=True)
class ParsedDocument:
    pages: list[ParsedPage]
    parser: str  # the format family that parsed it: "pdf", "docx", ...
    markup: Markup = "text"
    warnings: list[str] = field(default_factory=list)

    @property
    def has_text(self) -> bool:
        return any(page.text.strip() for page in self.pages)


NO_TEXT_MESSAGE = (
    "No text could be found in this file. Check that you chose the right file; if its text is "
    "in images, run OCR on it first and upload the result."
)

# How detection recognises a format (see documents/parsing/detect.py):
# "binary": by its first bytes, before anything else is looked at;
# "zip": a ZIP package, by the names of its members (and its "mimetype" member);
# "text": a text file, by its extension, or by its first bytes when its name says nothing.
Container = Literal["binary", "zip", "text"]


@dataclass(frozen=True)
class Probe:
    """What detection knows of a file when it asks a declaration's sniff to claim it."""

    head: bytes  # the first 8 KiB
    extension: str  # of the name the user gave it, lowercased, with the dot; "" if none
    # The name says it is a text format (.csv, .md, ...): bytes that merely mention another
    # format's signature near the start do not make it that format.
    named_as_text: bool = False
    members: frozenset[str] = frozenset()  # a ZIP package's member names
    zip_mimetype: bytes = b""  # the start of a ZIP package's "mimetype" member (EPUB, ODF)


def no_warnings(pages: Sequence[ParsedPage]) -> list[str]:
    return []


@dataclass(frozen=True)
class FormatDeclaration:
    """What a parser reads. Detection, the upload form's accept list, the list of formats in
    refusals and the README's table are all built from the registered declarations."""

    name: str  # as people call it, for the UI and the README: "PDF", "Word", "plain text"
    extensions: tuple[str, ...]  # lowercased, with the dot; the first is the usual one
    mime_types: tuple[str, ...]
    container: Container
    # None: recognised by extension only (a text format whose bytes prove nothing).
    sniff: Callable[[Probe], bool] | None = None
    # An Office Open XML package: its legacy predecessor shares the application's name, and a
    # password-protected copy is an OLE2 file, not a ZIP.
    office: bool = False
    catch_all: bool = False  # reads any text file that no other declaration claims
    no_text_message: str = NO_TEXT_MESSAGE
    # Warnings about the cleaned pages of a document that has text (e.g. scanned PDF pages).
    review: Callable[[Sequence[ParsedPage]], list[str]] = no_warnings

    @property
    def title(self) -> str:
        """The name as the "Supported formats" sentence of refusals lists it: the extension
        tells "Word (.docx)" apart from the Word 97-2003 files that are refused."""
        if self.office:
            return f"{self.name} ({'/'.join(self.extensions)})"
        return self.name


@runtime_checkable
class Parser(Protocol):
    """One family of formats. Parsers raise only ParseError for problems with the file."""

    name: str  # the format key detection returns and documents store
    # What every document it parses is written in (see ParsedDocument.markup); stored documents
    # keep only the parser's name, and re-indexing chunks their pages again by it.
    markup: Markup
    declaration: FormatDeclaration

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument: ...


_BLANK_RUNS = re.compile(r"\n[ \t\r\f\v]*\n(?:[ \t\r\f\v]*\n)+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
# NUL cannot be stored in PostgreSQL text; other C0 controls are noise from broken extractors.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Normalise extracted text: NFC, no control characters, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = _CONTROL.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()


_REPAIR_ADVICE = (
    "Open it in the program that made it, save it again (or export it as PDF) "
    "and upload the new file."
)


def corrupt(reason: str, advice: str = _REPAIR_ADVICE) -> ParseError:
    return ParseError(
        f"This file is damaged and could not be read: {reason}. {advice}",
        code=ParseErrorCode.CORRUPT,
    )


def check_page_count(count: int, *, max_pages: int) -> None:
    """Refuse a document with more pages than allowed, before doing the work of reading them."""
    if count > max_pages:
        raise ParseError(
            f"This document has {count:,} pages, more than the limit of {max_pages:,}. "
            "Split it into smaller files and upload them separately.",
            code=ParseErrorCode.TOO_LARGE,
        )


# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_text(data: bytes) -> str:
    """Decode a text file whose encoding nobody told us: BOM, then UTF-8, then a detector."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    # NUL bytes are valid UTF-8 but mean UTF-16/32 without a BOM; let the detector decide.
    if b"\x00" not in data:
        try:
            return _undo_double_utf8(data.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        raise ParseError(
            "This file does not contain readable text (it looks like binary data). "
            "Check that you chose the right file.",
            code=ParseErrorCode.UNSUPPORTED,
        )
    # The detector breaks near-ties between single-byte code pages arbitrarily (Western text
    # came out as cp1250, "très" as "trčs"); among equally clean decodings take the one whose
    # words look most like a language, and cp1252, the commonest legacy encoding, on a tie.
    clean = [match for match in matches if match.chaos <= best.chaos + 0.01]
    chosen = max(clean, key=lambda match: (match.coherence, match.encoding == "cp1252"))
    return str(chosen)


_C1_CONTROLS = re.compile(r"[\x80-\x9f]")


def _undo_double_utf8(text: str) -> str:
    """Repair UTF-8 that was decoded as Latin-1 and encoded again (a dash read as "â" + 2 C1s).

    C1 control characters never occur in real text, so their presence is the tell; the repair
    is kept only if the whole text round-trips.
    """
    if not _C1_CONTROLS.search(text):
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def read_text(path: Path) -> str:
    """Read and decode a text file; a file of nothing but whitespace is EMPTY."""
    text = decode_text(path.read_bytes())
    if not text.strip():
        raise ParseError(
            "This file contains only blank space, no text. Check that you chose the right file.",
            code=ParseErrorCode.EMPTY,
        )
    return text

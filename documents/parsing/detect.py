"""Work out what a file is from its name and its first bytes, and refuse what we cannot read.

Every format is asked through its parser's declaration (documents/parsing/registry.py); names
decide only between formats that the bytes cannot tell apart.
"""

from __future__ import annotations

import dataclasses
import logging
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from documents.parsing import limits, refusals
from documents.parsing.base import ParseError, Probe, corrupt
from documents.parsing.refusals import unsupported
from documents.parsing.registry import claimed_by, declarations

if TYPE_CHECKING:
    from documents.parsing.base import FormatDeclaration

__all__ = ["corrupt", "detect_format", "identify_format", "unsupported"]

logger = logging.getLogger(__name__)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def identify_format(path: Path, *, filename: str) -> str:
    """Return the format key for a file, or raise ParseError saying why it cannot be read."""
    declared = declarations()
    extension = Path(filename).suffix.lower()
    named = claimed_by(extension)
    named_as = declared[named] if named is not None else None
    with path.open("rb") as handle:
        head = handle.read(8192)
    probe = Probe(
        head=head,
        extension=extension,
        named_as_text=named_as is not None and named_as.container == "text",
    )
    if found := _sniffed(declared, probe, container="binary"):
        return found
    if head.startswith(refusals.OLE_MAGIC):
        app = named_as.name if named_as is not None and named_as.office else "Office"
        raise refusals.ole_error(path, extension=extension, app=app)
    if head.startswith(_ZIP_MAGIC):
        return _identify_zip(path, probe, named=named)
    refusals.refuse_by_signature(head)
    if named_as is not None and named_as.container != "text":
        raise corrupt(f"it is named {extension} but its contents are not in that format")
    if named is not None:
        return named
    refusals.refuse_by_extension(extension)
    if _looks_binary(head):
        raise unsupported(f"Files of this type ({extension or 'no extension'})")
    if found := _sniffed(declared, probe, container="text"):
        return found
    fallback = next((key for key, d in declared.items() if d.catch_all), None)
    if fallback is None:
        raise unsupported(f"Files of this type ({extension or 'no extension'})")
    return fallback


def detect_format(path: Path, *, filename: str) -> str | None:
    """The format key ("pdf", "docx", ...) a file would be parsed as, or None if it cannot be."""
    try:
        return identify_format(path, filename=filename)
    except ParseError:
        return None


def _sniffed(declared: dict[str, FormatDeclaration], probe: Probe, *, container: str) -> str:
    for key, declaration in declared.items():
        if declaration.container != container or declaration.sniff is None:
            continue
        if declaration.sniff(probe):
            return key
    return ""


def _looks_binary(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return False
    sample = head[:4096]
    zeros = sample.count(b"\x00")
    # UTF-16/32 text without a BOM has NULs in every second or fourth byte, binary data in clumps.
    if zeros and len(sample) >= 4:
        even, odd = sample[0::2].count(b"\x00"), sample[1::2].count(b"\x00")
        if min(even, odd) == 0 and max(even, odd) > len(sample) // 8:
            return False
        return sample[1::4].count(b"\x00") + sample[3::4].count(b"\x00") <= len(sample) // 4
    controls = sum(1 for byte in sample if byte < 9 or 13 < byte < 32)
    return controls > len(sample) // 20


def _identify_zip(path: Path, probe: Probe, *, named: str | None) -> str:
    named_as = declarations()[named] if named is not None else None
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = frozenset(member.filename for member in members)
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except Exception as error:  # zipfile lets zlib, struct and Unicode errors through
        logger.info("could not open zip container: %s", type(error).__name__)
        if named_as is not None and named_as.container != "text":
            raise corrupt("the ZIP container inside it is broken or incomplete") from error
        if named is not None:
            return named
        raise corrupt("it looks like a ZIP archive, but the archive is broken") from error
    # Decompression bombs: parts, part sizes and the total, before anything is inflated.
    limits.check_package(members)
    package = dataclasses.replace(probe, members=names, zip_mimetype=mimetype)
    if found := _sniffed(declarations(), package, container="zip"):
        return found
    refusals.refuse_package(members=names, mimetype=mimetype)
    if named_as is not None and named_as.container != "text":
        raise corrupt(f"it is named {probe.extension} but the parts of that format are missing")
    raise unsupported("ZIP archives", refusals.ARCHIVE_ADVICE)

"""Formats no parser reads, recognised so the refusal can say what to do instead.

Detection consults these only after every registered parser has declined the file, so a parser
added for one of them wins.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import olefile

from documents.parsing.base import ParseError, ParseErrorCode, corrupt
from documents.parsing.registry import supported_formats_text

if TYPE_CHECKING:
    from pathlib import Path

logger = logging.getLogger(__name__)

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_LEGACY = {
    ".doc": ("Legacy Word 97-2003 (.doc) files", "Save it as .docx or PDF and upload again."),
    ".xls": ("Legacy Excel 97-2003 (.xls) files", "Save it as .xlsx or CSV and upload again."),
    ".ppt": (
        "Legacy PowerPoint 97-2003 (.ppt) files",
        "Save it as .pptx or PDF and upload again.",
    ),
}
_ODF = {
    "text": ("OpenDocument text (.odt) files", "Save it as .docx or PDF and upload again."),
    "spreadsheet": (
        "OpenDocument spreadsheets (.ods)",
        "Save it as .xlsx or CSV and upload again.",
    ),
    "presentation": (
        "OpenDocument presentations (.odp)",
        "Save it as .pptx or PDF and upload again.",
    ),
}
# PNG, JPEG and TIFF are read by documents/parsing/images.py.
_IMAGE_ADVICE = "Save it as PNG (its text is then read by OCR) and upload that."
ARCHIVE_ADVICE = "Extract the files from it and upload the documents one by one."
_SIGNATURES = (
    (b"GIF87a", "GIF images", _IMAGE_ADVICE),
    (b"GIF89a", "GIF images", _IMAGE_ADVICE),
    (b"\x1f\x8b", "Gzip archives", ARCHIVE_ADVICE),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archives", ARCHIVE_ADVICE),
    (b"Rar!\x1a\x07", "RAR archives", ARCHIVE_ADVICE),
)
_BY_EXTENSION = {
    **_LEGACY,
    ".rtf": ("Rich Text Format (.rtf) files", "Save it as .docx or PDF and upload again."),
    ".odt": _ODF["text"],
    ".ods": _ODF["spreadsheet"],
    ".odp": _ODF["presentation"],
    ".xlsb": ("Excel binary workbooks (.xlsb)", "Save it as .xlsx or CSV and upload again."),
    ".json": (
        "JSON files",
        "Export the data as CSV, or save the text as a .txt file, and upload that.",
    ),
    ".zip": ("ZIP archives", ARCHIVE_ADVICE),
    ".gif": ("GIF images", _IMAGE_ADVICE),
}


def unsupported(what: str, advice: str = "") -> ParseError:
    message = f"{what} are not supported. {advice} Supported formats: {supported_formats_text()}."
    return ParseError(message.replace("  ", " "), code=ParseErrorCode.UNSUPPORTED)


def refuse_by_signature(head: bytes) -> None:
    """Raise for GIF images, archives and RTF, whatever their name."""
    for magic, what, advice in _SIGNATURES:
        if head.startswith(magic):
            raise unsupported(what, advice)
    if head.lstrip().startswith(b"{\\rtf"):
        raise unsupported(*_BY_EXTENSION[".rtf"])


def refuse_by_extension(extension: str) -> None:
    if extension in _BY_EXTENSION:
        raise unsupported(*_BY_EXTENSION[extension])


def refuse_package(*, members: frozenset[str], mimetype: bytes) -> None:
    """Raise for ZIP packages of formats we know and do not read (Excel binary, OpenDocument)."""
    if "xl/workbook.bin" in members:
        raise unsupported(*_BY_EXTENSION[".xlsb"])
    if mimetype.startswith(b"application/vnd.oasis.opendocument."):
        kind = mimetype.decode("ascii", "replace").rsplit(".", 1)[-1]
        raise unsupported(*_ODF.get(kind, ("OpenDocument files", _ODF["text"][1])))


def ole_error(path: Path, *, extension: str, app: str) -> ParseError:
    """OLE2 is the container of legacy Office files and of every password-protected one.

    `app` names the Office application of the format the file is named as ("Word"), or "Office".
    """
    try:
        with olefile.OleFileIO(str(path)) as ole:
            streams = {"/".join(entry) for entry in ole.listdir(streams=True, storages=False)}
    except Exception as error:  # olefile raises OSError and plain exceptions on bad input
        logger.info("could not read OLE container: %s", type(error).__name__)
        if extension in _LEGACY:
            return unsupported(*_LEGACY[extension])
        return corrupt("its internal structure is broken")
    if "EncryptionInfo" in streams and "EncryptedPackage" in streams:
        return ParseError(
            f"This {app} file is password-protected (encrypted). Open it in {app}, remove the "
            "password (File > Info > Protect > Encrypt with Password, then clear it), save it "
            "and upload it again.",
            code=ParseErrorCode.ENCRYPTED,
        )
    if "WordDocument" in streams:
        return unsupported(*_LEGACY[".doc"])
    if "Workbook" in streams or "Book" in streams:
        return unsupported(*_LEGACY[".xls"])
    if "PowerPoint Document" in streams:
        return unsupported(*_LEGACY[".ppt"])
    return unsupported(
        "Older Microsoft Office and Outlook files",
        "Save it in a current format (.docx, .xlsx, .pptx) or as PDF and upload again.",
    )

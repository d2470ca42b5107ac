"""Work out what a file is from its name and its first bytes, and refuse what we cannot read."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import olefile

from documents.parsing.base import ParseError, ParseErrorCode

logger = logging.getLogger(__name__)

SUPPORTED_FORMATS_TEXT = (
    "PDF, Word (.docx), PowerPoint (.pptx), Excel (.xlsx/.xlsm), CSV, HTML, Markdown, "
    "plain text and EPUB"
)

# Names decide only between formats that share a container; the bytes decide the rest.
_TEXT_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
}
_PACKAGE_EXTENSIONS = {".pdf", ".docx", ".pptx", ".xlsx", ".xlsm", ".epub"}
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset({*_TEXT_EXTENSIONS, *_PACKAGE_EXTENSIONS})

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_APP_BY_EXTENSION = {".docx": "Word", ".xlsx": "Excel", ".xlsm": "Excel", ".pptx": "PowerPoint"}

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
_IMAGE_ADVICE = (
    "Text in images cannot be read without OCR. Put the image in a PDF, run OCR on it "
    "(for example with ocrmypdf) and upload the PDF."
)
_ARCHIVE_ADVICE = "Extract the files from it and upload the documents one by one."
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG images", _IMAGE_ADVICE),
    (b"\xff\xd8\xff", "JPEG images", _IMAGE_ADVICE),
    (b"GIF87a", "GIF images", _IMAGE_ADVICE),
    (b"GIF89a", "GIF images", _IMAGE_ADVICE),
    (b"II*\x00", "TIFF images", _IMAGE_ADVICE),
    (b"MM\x00*", "TIFF images", _IMAGE_ADVICE),
    (b"\x1f\x8b", "Gzip archives", _ARCHIVE_ADVICE),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archives", _ARCHIVE_ADVICE),
    (b"Rar!\x1a\x07", "RAR archives", _ARCHIVE_ADVICE),
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
    ".zip": ("ZIP archives", _ARCHIVE_ADVICE),
    ".png": ("PNG images", _IMAGE_ADVICE),
    ".jpg": ("JPEG images", _IMAGE_ADVICE),
    ".jpeg": ("JPEG images", _IMAGE_ADVICE),
}
# A package that unpacks to more than this is a zip bomb or far beyond what we can index.
_MAX_UNPACKED_BYTES = 1024 * 1024 * 1024


def unsupported(what: str, advice: str = "") -> ParseError:
    message = f"{what} are not supported. {advice} Supported formats: {SUPPORTED_FORMATS_TEXT}."
    return ParseError(message.replace("  ", " "), code=ParseErrorCode.UNSUPPORTED)


_REPAIR_ADVICE = (
    "Open it in the program that made it, save it again (or export it as PDF) "
    "and upload the new file."
)


def corrupt(reason: str, advice: str = _REPAIR_ADVICE) -> ParseError:
    return ParseError(
        f"This file is damaged and could not be read: {reason}. {advice}",
        code=ParseErrorCode.CORRUPT,
    )


def identify_format(path: Path, *, filename: str) -> str:
    """Return the format key for a file, or raise ParseError saying why it cannot be read."""
    extension = Path(filename).suffix.lower()
    with path.open("rb") as handle:
        head = handle.read(8192)
    # Readers accept junk before the PDF header, and so does PDFium; a text file merely
    # mentioning "%PDF-" near its start is still text.
    position = head.find(b"%PDF-", 0, 1024)
    if position == 0 or (position > 0 and extension not in _TEXT_EXTENSIONS):
        return "pdf"
    if head.startswith(_OLE_MAGIC):
        raise _ole_error(path, extension)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _identify_zip(path, extension)
    for magic, what, advice in _SIGNATURES:
        if head.startswith(magic):
            raise unsupported(what, advice)
    if head.lstrip().startswith(b"{\\rtf"):
        raise unsupported(*_BY_EXTENSION[".rtf"])
    if extension in _PACKAGE_EXTENSIONS:
        raise corrupt(f"it is named {extension} but its contents are not in that format")
    if extension in _BY_EXTENSION:
        raise unsupported(*_BY_EXTENSION[extension])
    if extension in _TEXT_EXTENSIONS:
        return _TEXT_EXTENSIONS[extension]
    if _looks_binary(head):
        raise unsupported(f"Files of this type ({extension or 'no extension'})")
    start = head.lstrip()[:100].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "html"
    return "text"


def detect_format(path: Path, *, filename: str) -> str | None:
    """The format key ("pdf", "docx", ...) a file would be parsed as, or None if it cannot be."""
    try:
        return identify_format(path, filename=filename)
    except ParseError:
        return None


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


def _ole_error(path: Path, extension: str) -> ParseError:
    """OLE2 is the container of legacy Office files and of every password-protected one."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            streams = {"/".join(entry) for entry in ole.listdir(streams=True, storages=False)}
    except Exception as error:  # olefile raises OSError and plain exceptions on bad input
        logger.info("could not read OLE container: %s", type(error).__name__)
        if extension in _LEGACY:
            return unsupported(*_LEGACY[extension])
        return corrupt("its internal structure is broken")
    if "EncryptionInfo" in streams and "EncryptedPackage" in streams:
        app = _APP_BY_EXTENSION.get(extension, "Office")
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


def _identify_zip(path: Path, extension: str) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except Exception as error:  # zipfile lets zlib, struct and Unicode errors through
        logger.info("could not open zip container: %s", type(error).__name__)
        return _unreadable_zip(extension)
    if sum(member.file_size for member in members) > _MAX_UNPACKED_BYTES:
        raise ParseError(
            "This file unpacks to more than 1 GB, which is too large to read. "
            "Split it into smaller files and upload them separately.",
            code=ParseErrorCode.TOO_LARGE,
        )
    if "word/document.xml" in names:
        return "docx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        raise unsupported(*_BY_EXTENSION[".xlsb"])
    if mimetype.startswith(b"application/epub+zip") or (
        "META-INF/container.xml" in names and not mimetype
    ):
        return "epub"
    if mimetype.startswith(b"application/vnd.oasis.opendocument."):
        kind = mimetype.decode("ascii", "replace").rsplit(".", 1)[-1]
        raise unsupported(*_ODF.get(kind, ("OpenDocument files", _ODF["text"][1])))
    if extension in _PACKAGE_EXTENSIONS:
        raise corrupt(f"it is named {extension} but the parts of that format are missing")
    raise unsupported("ZIP archives", _ARCHIVE_ADVICE)


def _unreadable_zip(extension: str) -> str:
    if extension in _PACKAGE_EXTENSIONS:
        raise corrupt("the ZIP container inside it is broken or incomplete")
    if extension in _TEXT_EXTENSIONS:
        return _TEXT_EXTENSIONS[extension]
    raise corrupt("it looks like a ZIP archive, but the archive is broken")

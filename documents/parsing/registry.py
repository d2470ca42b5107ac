"""The registered parsers: `settings.DOCUMENT_PARSERS` (dotted paths), else the built-in ones.

Everything that lists formats asks here: detection, the upload form's accept list, the
"Supported formats" sentence of refusals and the README's table. Adding a format is one parser
module and one entry in that list.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from documents.parsing.base import Parser

if TYPE_CHECKING:
    from documents.parsing.base import FormatDeclaration

# The order is the order formats are listed in, and the order their sniffs are tried in.
DEFAULT_PARSERS = (
    "documents.parsing.pdf.PdfParser",
    "documents.parsing.word.DocxParser",
    "documents.parsing.slides.PptxParser",
    "documents.parsing.spreadsheets.XlsxParser",
    "documents.parsing.spreadsheets.CsvParser",
    "documents.parsing.webpages.HtmlParser",
    "documents.parsing.text.MarkdownParser",
    "documents.parsing.text.TextParser",
    "documents.parsing.ebooks.EpubParser",
    "documents.parsing.images.ImageParser",
)


def _configured_paths() -> tuple[str, ...]:
    # Parsing also runs without Django set up (`pytest -p no:django`, scripts).
    if not settings.configured:
        return DEFAULT_PARSERS
    return tuple(getattr(settings, "DOCUMENT_PARSERS", DEFAULT_PARSERS))


@functools.cache
def parsers() -> dict[str, Parser]:
    """Format key -> parser, in the configured order."""
    return build_registry(_configured_paths())


def build_registry(paths: tuple[str, ...]) -> dict[str, Parser]:
    found: dict[str, Parser] = {}
    owners: dict[str, str] = {}
    for path in paths:
        parser = import_string(path)()
        if not isinstance(parser, Parser):
            raise ImproperlyConfigured(f"{path} does not follow the parsing.base.Parser protocol")
        if parser.name in found:
            raise ImproperlyConfigured(f"two parsers are named {parser.name!r}")
        for extension in parser.declaration.extensions:
            if not extension.startswith(".") or extension != extension.lower():
                raise ImproperlyConfigured(f"{path}: write extensions as '.ext', not {extension!r}")
            if extension in owners:
                raise ImproperlyConfigured(
                    f"{extension} is declared by both {owners[extension]!r} and {parser.name!r}"
                )
            owners[extension] = parser.name
        found[parser.name] = parser
    return found


@receiver(setting_changed)
def _forget_parsers(*, setting: str, **kwargs: Any) -> None:
    if setting == "DOCUMENT_PARSERS":
        parsers.cache_clear()


def declarations() -> dict[str, FormatDeclaration]:
    return {key: parser.declaration for key, parser in parsers().items()}


def claimed_by(extension: str) -> str | None:
    """The format key whose parser declares `extension` (".pdf"), if any."""
    for key, declaration in declarations().items():
        if extension in declaration.extensions:
            return key
    return None


def supported_extensions() -> frozenset[str]:
    return frozenset(ext for d in declarations().values() for ext in d.extensions)


def upload_accept() -> str:
    """The `accept` attribute of the upload form's file input."""
    return ",".join(sorted(supported_extensions()))


def supported_formats_text(*, detailed: bool = True) -> str:
    """ "PDF, Word (.docx), ... and EPUB"; `detailed=False` leaves the extensions out."""
    names = [d.title if detailed else d.name for d in declarations().values()]
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def formats_markdown(registry: dict[str, Parser] | None = None) -> str:
    """The README's table of supported formats (tests/documents/parsing/test_registry.py keeps
    README.md equal to it)."""
    registry = parsers() if registry is None else registry
    lines = ["| format | extensions | MIME types |", "|---|---|---|"]
    for parser in registry.values():
        declared = parser.declaration
        extensions = ", ".join(f"`{extension}`" for extension in declared.extensions)
        mime_types = ", ".join(f"`{mime_type}`" for mime_type in declared.mime_types)
        name = declared.name[:1].upper() + declared.name[1:]
        lines.append(f"| {name} | {extensions} | {mime_types} |")
    return "\n".join(lines) + "\n"

"""EPUB via ebooklib: one page per spine document with text, in reading order."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import ebooklib
from ebooklib import epub

from documents.parsing.base import (
    FormatDeclaration,
    Markup,
    ParsedDocument,
    ParsedPage,
    Probe,
    check_page_count,
    corrupt,
)
from documents.parsing.webpages import html_pages, parse_html

if TYPE_CHECKING:
    from pathlib import Path

logger = logging.getLogger(__name__)

_MAX_LABEL = 120


_MIME_TYPE = "application/epub+zip"


def _sniff(probe: Probe) -> bool:
    # The OCF container names its type in a "mimetype" member; some tools leave it out.
    if probe.zip_mimetype:
        return probe.zip_mimetype.startswith(_MIME_TYPE.encode())
    return "META-INF/container.xml" in probe.members


DECLARATION = FormatDeclaration(
    name="EPUB",
    extensions=(".epub",),
    mime_types=(_MIME_TYPE,),
    container="zip",
    sniff=_sniff,
)


class EpubParser:
    name = "epub"
    markup: Markup = "markdown"
    declaration = DECLARATION

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument:
        try:
            book = epub.read_epub(str(path), options={"ignore_ncx": True})
            spine = [book.get_item_with_id(idref) for idref, _linear in book.spine]
        except Exception as error:  # ebooklib raises EpubException, KeyError, lxml errors, ...
            reason = str(error).strip()[:150] or type(error).__name__
            raise corrupt(f"the e-book could not be opened ({reason})") from error
        documents = [
            item for item in spine if item is not None and item.get_type() == ebooklib.ITEM_DOCUMENT
        ]
        check_page_count(len(documents), max_pages=max_pages)
        pages: list[ParsedPage] = []
        for item in documents:
            soup = parse_html(item.get_content())
            heading = soup.find(["h1", "h2", "h3", "h4", "h5", "h6"])
            title = soup.find("title")
            label = next(
                (
                    " ".join(tag.get_text(" ").split())
                    for tag in (heading, title)
                    if tag is not None and tag.get_text().strip()
                ),
                "",
            )
            text = "\n\n".join(html_pages(soup))
            if not text.strip():  # cover images, navigation pages
                continue
            number = len(pages) + 1
            label = label[:_MAX_LABEL].rstrip() or f"Section {number}"
            pages.append(ParsedPage(number=number, text=text, label=label))
        return ParsedDocument(pages=pages, parser=self.name, markup=self.markup)

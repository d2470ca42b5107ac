"""Find a passage that another extractor produced (OpenAI File Search results and citations, a
model's quote) in a document's page map, so that it can be cited by page. Pure functions.

Extractors disagree on whitespace, line-end hyphenation, ligatures, accents, quotes and dashes,
so texts are compared on their letters and digits only, case-folded and NFKD-decomposed
("Ef-\\nfi\\u0301cient" and "efficient" compare equal). Offsets in the answer are in document
coordinates: the pages' texts joined with Page.PAGE_SEPARATOR, as Page.char_start records.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple, Protocol

# When the whole passage is not found (the remote extractor read a table, a header or a footer
# differently), its first and last this-many letters and digits usually still are.
EDGE_CHARS = 200

_WORD = re.compile(r"[^\W_]+")


class PageLike(Protocol):
    """A Page row, a chunking.PageText, or anything else with these attributes."""

    @property
    def number(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def char_start(self) -> int: ...


class PassageLocation(NamedTuple):
    page_start: int
    page_end: int
    char_start: int  # document coordinates, end exclusive
    char_end: int


def fold(text: str) -> str:
    """The letters and digits of `text`, case-folded, without accents or anything else."""
    if text.isascii():
        return "".join(_WORD.findall(text)).lower()
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    return "".join(char for char in decomposed if char.isalnum())


class PageMap:
    """A document's pages folded once, to locate many passages in them."""

    def __init__(self, pages: Iterable[PageLike]) -> None:
        ordered = sorted(pages, key=lambda page: page.char_start)
        self._page_starts = [page.char_start for page in ordered]
        self._page_numbers = [page.number for page in ordered]
        # Runs of folded text: (folded start, document start, folded length, document length).
        # Most words fold to as many characters as they have, so one run maps them exactly;
        # a word whose folding changes its length is split into one run per character.
        self._runs: list[tuple[int, int, int, int]] = []
        parts: list[str] = []
        position = 0
        for page in ordered:
            for match in _WORD.finditer(page.text):
                word = match.group()
                start = page.char_start + match.start()
                folded = fold(word)
                if len(folded) == len(word):
                    self._runs.append((position, start, len(folded), len(word)))
                    parts.append(folded)
                    position += len(folded)
                    continue
                for index, char in enumerate(word):
                    piece = fold(char)
                    if piece:
                        self._runs.append((position, start + index, len(piece), 1))
                        parts.append(piece)
                        position += len(piece)
        self._folded = "".join(parts)
        self._run_starts = [run[0] for run in self._runs]

    def locate(self, passage: str, *, edge: int = EDGE_CHARS) -> PassageLocation | None:
        """Where `passage` is (its first occurrence), or None if it is not in these pages."""
        needle = fold(passage)
        if not needle or not self._folded:
            return None
        found = self._folded.find(needle)
        if found >= 0:
            return self._location(found, found + len(needle))
        if len(needle) <= edge:
            return None
        head, tail = needle[:edge], needle[-edge:]
        start = self._folded.find(head)
        if start >= 0:
            tail_at = self._folded.find(tail, start)
            # A tail found much further on is another occurrence, not this passage's end.
            if tail_at >= 0 and tail_at + len(tail) - start <= 2 * len(needle):
                return self._location(start, tail_at + len(tail))
            return self._location(start, min(start + len(needle), len(self._folded)))
        tail_at = self._folded.find(tail)
        if tail_at >= 0:
            end = tail_at + len(tail)
            return self._location(max(0, end - len(needle)), end)
        return None

    def _location(self, start: int, end: int) -> PassageLocation:
        char_start = self._document_offset(start, at_end=False)
        char_end = self._document_offset(end - 1, at_end=True)
        return PassageLocation(
            page_start=self._page_at(char_start),
            page_end=self._page_at(char_end - 1),
            char_start=char_start,
            char_end=char_end,
        )

    def _document_offset(self, index: int, *, at_end: bool) -> int:
        """The document offset of folded character `index` (just after it when `at_end`)."""
        folded_start, start, folded_length, length = self._runs[
            bisect.bisect_right(self._run_starts, index) - 1
        ]
        if folded_length == length:
            offset = start + (index - folded_start)
            return offset + 1 if at_end else offset
        return start + length if at_end else start

    def _page_at(self, offset: int) -> int:
        return self._page_numbers[max(0, bisect.bisect_right(self._page_starts, offset) - 1)]


def locate_passage(pages: Iterable[PageLike], passage: str) -> PassageLocation | None:
    """(page_start, page_end, char_start, char_end) of `passage` in `pages`, or None.

    Build a PageMap instead when locating several passages in the same document.
    """
    return PageMap(pages).locate(passage)


__all__ = ["EDGE_CHARS", "PageLike", "PageMap", "PassageLocation", "fold", "locate_passage"]

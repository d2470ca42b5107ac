"""Where a passage sits in its document: the heading path in effect at each offset.

Pure functions over the document text (pages in document coordinates), no database. Markdown
headings are ATX (`## Title`) outside fenced code blocks; HTML and DOCX reach here as Markdown
from their parsers. reStructuredText titles are a line underlined (and maybe overlined) with a
punctuation character; as in docutils, levels are assigned in the order the styles first appear.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

PATH_SEPARATOR = " > "
# A context long enough to place a passage; longer would crowd the passage out of the
# embedding window (chunks are sized to the model's window).
MAX_CONTEXT_CHARS = 160

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_RST_ADORNMENT = re.compile(r"^([=\-~^\"'`#*+:.,_!$%&()/;<>?@\[\]{|}\\])\1{2,}\s*$")
_MARKUP = re.compile(r"[*_`]+|\[([^\]]*)\]\([^)]*\)")
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")
MAX_HEADER_CHARS = 160
_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class Heading:
    offset: int  # where its line starts, in document coordinates
    level: int  # 1 = top
    title: str


def markdown_headings(text: str, *, base: int = 0) -> list[Heading]:
    headings: list[Heading] = []
    fence = ""
    offset = base
    for line in text.split("\n"):
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
        elif opened:
            fence = opened.group(1)
        else:
            match = _ATX.match(line)
            if match:
                title = _plain(match.group(2))
                if title:
                    headings.append(Heading(offset, len(match.group(1)), title))
        offset += len(line) + 1
    return headings


def rst_headings(text: str, *, base: int = 0) -> list[Heading]:
    lines = text.split("\n")
    starts = [base]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    styles: list[tuple[str, bool]] = []  # (character, overlined) in order of appearance
    headings: list[Heading] = []
    i = 1
    while i < len(lines):
        title, under = lines[i - 1], lines[i]
        adornment = _RST_ADORNMENT.match(under)
        if (
            adornment
            and title.strip()
            and not _RST_ADORNMENT.match(title)
            and not title.startswith((" ", "\t"))
            and len(under.rstrip()) >= len(title.rstrip())
        ):
            overlined = i >= 2 and lines[i - 2].rstrip() == under.rstrip()
            style = (adornment.group(1), overlined)
            if style not in styles:
                styles.append(style)
            headings.append(Heading(starts[i - 1], styles.index(style) + 1, _plain(title)))
            i += 2
            continue
        i += 1
    return headings


def heading_paths(headings: Sequence[Heading], offsets: Sequence[int]) -> list[str]:
    """For each offset, the path of the headings in effect there: "Guide > Install > Linux"."""
    paths = [""] * len(offsets)
    stack: list[Heading] = []
    consumed = 0
    # One walk through the headings for offsets in order (chunks come in order).
    for i in sorted(range(len(offsets)), key=offsets.__getitem__):
        while consumed < len(headings) and headings[consumed].offset <= offsets[i]:
            heading = headings[consumed]
            while stack and stack[-1].level >= heading.level:
                stack.pop()
            stack.append(heading)
            consumed += 1
        paths[i] = clip(PATH_SEPARATOR.join(heading.title for heading in stack))
    return paths


def clip(context: str) -> str:
    """Keep the end of a long path: the nearest headings say most about the passage."""
    if len(context) <= MAX_CONTEXT_CHARS:
        return context
    return "\N{HORIZONTAL ELLIPSIS}" + context[-(MAX_CONTEXT_CHARS - 1) :].lstrip()


def _plain(title: str) -> str:
    return " ".join(_MARKUP.sub(lambda m: m.group(1) or "", title).split())


@dataclass(frozen=True)
class TableSpan:
    """The body rows of a Markdown pipe table, in document coordinates, and its header row."""

    start: int  # where the first body row starts
    end: int  # where the table ends
    header: str  # "Name | Default | Description"


def markdown_tables(text: str, *, base: int = 0) -> list[TableSpan]:
    """Pipe tables (a header row, then a delimiter row such as `|---|:---:|`), so that a chunk
    that starts among a table's rows can say what its columns are."""
    tables: list[TableSpan] = []
    lines = text.split("\n")
    starts = [base]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    i = 1
    while i < len(lines):
        header, delimiter = lines[i - 1], lines[i]
        if "|" in header and "|" in delimiter and _TABLE_DELIMITER.match(delimiter):
            end = i + 1
            while end < len(lines) and "|" in lines[end] and lines[end].strip():
                end += 1
            cells = [_plain(cell) for cell in header.strip().strip("|").split("|")]
            title = " | ".join(cell for cell in cells if cell)[:MAX_HEADER_CHARS]
            if title and end > i + 1:
                tables.append(TableSpan(starts[i + 1], starts[end] - 1, title))
            i = end + 1
            continue
        i += 1
    return tables


def rst_blocks(text: str) -> list[tuple[int, int]]:
    """reStructuredText cut into blocks that must stay together, as (start, end) offsets: a
    paragraph with what is indented under it (a literal block after `::`, a definition's
    body, a directive's content, a list item's continuation). Blank lines inside an indented
    block do not end it; the next line back at the paragraph's indentation does."""
    paragraphs: list[tuple[int, int]] = []
    position = 0
    for gap in _BLANK_LINES.finditer(text):
        if gap.start() > position:
            paragraphs.append((position, gap.start()))
        position = gap.end()
    if position < len(text) and text[position:].strip():
        paragraphs.append((position, len(text.rstrip())))
    blocks: list[tuple[int, int]] = []
    indent = 0
    for start, end in paragraphs:
        line_start = text.rfind("\n", 0, start) + 1
        own = start - line_start + (len(text[start:end]) - len(text[start:end].lstrip(" ")))
        if blocks and own > indent:
            blocks[-1] = (blocks[-1][0], end)  # indented under the block before: belongs to it
            continue
        blocks.append((start, end))
        indent = own
    return blocks


def document_title(filename: str) -> str:
    """A document's name as people would say it: "2022_Q3_AAPL.pdf" -> "2022 Q3 AAPL"; empty
    for a name with no word in it ("4983.txt", "0001-22.pdf"), which says nothing."""
    stem = filename.rsplit(".", 1)[0] if "." in filename.strip(".") else filename
    title = " ".join(re.sub(r"[_\-.]+", " ", stem).split())[:MAX_CONTEXT_CHARS]
    return title if _WORD.search(title) else ""


def same_words(first: str, second: str) -> bool:
    def words(text: str) -> list[str]:
        return re.findall(r"\w+", text.lower())

    return words(first) == words(second)


# Headings of text without markup (PDF, plain text): what a reader takes for one from the line
# alone. Numbered parts ("Part II", "Item 1A.", "Chapter 3") open the highest levels; a line in
# capitals, then a short line in title case between paragraphs, the next ones.
_NUMBERED = re.compile(
    r"^(part|item|chapter|section|article|appendix|annex|note)\s+([0-9]{1,3}|[ivxlc]{1,6})[a-z]?\b[.:]?",
    re.IGNORECASE,
)
_NUMBERED_LEVEL = {"part": 1, "chapter": 1, "appendix": 1, "annex": 1, "note": 3}
# A table of contents' line ("Risk Factors 20"), an amount, a page number.
_ENDS_IN_NUMBER = re.compile(r"\s\d[\d,.]*$")
# A line seen this often in one document is a running header or a table's column heading.
REPEATED_LINE = 3
_SMALL_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "of", "on", "or"}
    | {"per", "the", "to", "with", "vs", "via", "its", "their", "our"}
)
_MAX_PLAIN_HEADING = 100
# A line standing alone at the top may be longer: titles of papers and reports run to 200.
MAX_OPENING_TITLE = 200


def plain_headings(
    text: str, *, base: int = 0, repeated: frozenset[str] = frozenset()
) -> list[Heading]:
    """Headings of a page of plain text; `repeated` are lines that recur through the document
    (running headers, column headings: see `repeated_lines`), which are never headings."""
    headings: list[Heading] = []
    lines = text.split("\n")
    offset = base
    previous = ""
    for i, raw in enumerate(lines):
        line = " ".join(raw.split())
        level = (
            0
            if line in repeated
            else _plain_heading_level(line, previous=previous, following=_next_line(lines, i))
        )
        if level:
            headings.append(Heading(offset, level, line.rstrip(":")))
        if line:
            previous = line
        offset += len(raw) + 1
    return headings


def _next_line(lines: Sequence[str], i: int) -> str:
    for line in lines[i + 1 : i + 4]:
        if line.strip():
            return line.strip()
    return ""


def _plain_heading_level(line: str, *, previous: str, following: str) -> int:
    if (
        not 3 <= len(line) <= _MAX_PLAIN_HEADING
        or line.startswith("(")
        or line.endswith((",", ";"))
        or any(mark in line for mark in "|$€£¥%☐☒")
        or _ENDS_IN_NUMBER.search(line)
        or line.rsplit(None, 1)[-1].lower() in _SMALL_WORDS
    ):
        return 0
    words = line.split()
    letters = sum(ch.isalpha() for ch in line)
    if letters < 0.6 * len(line.replace(" ", "")):
        return 0  # table rows, figures, page numbers
    numbered = _NUMBERED.match(line)
    if numbered and len(words) <= 16:
        return _NUMBERED_LEVEL.get(numbered.group(1).lower(), 2)
    if line.endswith((".", ":", "?", "!")) or ": " in line or not following:
        return 0
    alpha = [ch for ch in line if ch.isalpha()]
    if len(words) >= 2 and all(ch.isupper() for ch in alpha):
        return 3
    # Title case between paragraphs: the line before ended a sentence (or a table row: it ends
    # in a figure), the next one starts one.
    long_words = [
        w for w in words if w.strip("()\N{EM DASH}\N{EN DASH}-").lower() not in _SMALL_WORDS
    ]
    if (
        2 <= len(words) <= 10
        and long_words
        and all(w[0].isupper() or not w[0].isalpha() for w in long_words)
        and (not previous or previous.endswith((".", ":", "?", "!", ")")) or previous[-1].isdigit())
        and following[:1].isupper()
    ):
        return 4
    return 0


def repeated_lines(texts: Sequence[str]) -> frozenset[str]:
    """Lines that occur REPEATED_LINE times or more across a document's pages."""
    counts: dict[str, int] = {}
    for text in texts:
        for raw in text.split("\n"):
            line = " ".join(raw.split())
            if line:
                counts[line] = counts.get(line, 0) + 1
    return frozenset(line for line, count in counts.items() if count >= REPEATED_LINE)


_OPENING_TITLE = re.compile(rf"\A[ \t]*([^\n]{{3,{MAX_OPENING_TITLE}}}?)[ \t]*\n[ \t]*\n")


def opening_title(text: str, *, base: int = 0) -> Heading | None:
    """A plain-text document's first line when it stands alone above the body, as titles do
    ("Report on the northern division\n\nThe division grew..."): the top heading."""
    match = _OPENING_TITLE.match(text)
    if match is None:
        return None
    line = " ".join(match.group(1).split())
    if line.endswith((".", ",", ";", ":")) or not any(ch.isalpha() for ch in line):
        return None
    return Heading(base + match.start(1), 1, line)

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

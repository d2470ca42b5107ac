"""The model's 【4:0†source】 markers in streamed Assistants text, told apart from the text."""

from __future__ import annotations

import re
from dataclasses import dataclass

# 【message:result†source】: the model's reference to a search result (a dagger always separates
# the source; 【注意】 and other bracketed text is left alone).
_MARKER = re.compile(r"【\d+(?::\d+)?†[^【】\n]{0,200}】")
_PARTIAL = re.compile(r"【(?:\d+(?::\d*)?(?:†[^【】\n]{0,200})?)?")


@dataclass(frozen=True)
class SourceMarker:
    text: str


class SourceMarkerStream:
    """Splits streamed text into text and source markers. A marker can be split across deltas,
    so a possible one is held back until complete, with the whitespace before it (dropped
    along with a marker that cites nothing)."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[str | SourceMarker]:
        self._buffer += text
        pieces: list[str | SourceMarker] = []
        while self._buffer:
            start = self._buffer.find("【")
            if start == -1:
                body = self._buffer.rstrip()
                if body:
                    pieces.append(body)
                self._buffer = self._buffer[len(body) :]
                break
            match = _MARKER.match(self._buffer, start)
            if match:
                if start:
                    pieces.append(self._buffer[:start])
                pieces.append(SourceMarker(match.group()))
                self._buffer = self._buffer[match.end() :]
                continue
            if _PARTIAL.fullmatch(self._buffer, start):
                head = self._buffer[:start].rstrip()
                if head:
                    pieces.append(head)
                self._buffer = self._buffer[len(head) :]
                break
            pieces.append(self._buffer[: start + 1])  # a 【 that starts no marker
            self._buffer = self._buffer[start + 1 :]
        return pieces

    def flush(self) -> list[str | SourceMarker]:
        """What is left at the end of the text; an unfinished marker is dropped."""
        text, self._buffer = self._buffer, ""
        start = text.find("【")
        if start >= 0 and _PARTIAL.fullmatch(text, start):
            text = text[:start].rstrip()
        return [text] if text else []

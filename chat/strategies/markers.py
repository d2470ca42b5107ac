"""Citation markers in streamed model text.

Models cite sources as [2], [1, 3] or [1][3]. While text streams, a marker can be split across
deltas, so a possible marker is held back until it is complete. Markers are renumbered in
order of first use ([1], [2], ... in reading order) and numbers that match no source (a model
inventing citations) are dropped.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"\[(\s*\d{1,3}\s*(?:[,;]\s*\d{1,3}\s*)*)\]")
_PARTIAL = re.compile(r"\[[\d\s,;]*")
_MAX_MARKER = 24


class CitationMarkerStream:
    def __init__(self, *, valid: set[int]) -> None:
        self._valid = valid
        self._buffer = ""
        # Source numbers in order of first use; the display number is the position + 1.
        self.used: list[int] = []

    def feed(self, text: str) -> str:
        self._buffer += text
        out: list[str] = []
        while self._buffer:
            start = self._buffer.find("[")
            if start == -1:
                out.append(self._buffer)
                self._buffer = ""
                break
            out.append(self._buffer[:start])
            rest = self._buffer[start:]
            match = _MARKER.match(rest)
            if match:
                rendered = self._render(match.group(1))
                if not rendered and out and out[-1].endswith(" "):
                    out[-1] = out[-1].rstrip(" ")
                out.append(rendered)
                self._buffer = rest[match.end() :]
                continue
            if _PARTIAL.fullmatch(rest) and len(rest) < _MAX_MARKER:
                self._buffer = rest  # maybe the start of a marker: wait for more text
                break
            out.append("[")
            self._buffer = rest[1:]
        return "".join(out)

    def flush(self) -> str:
        text, self._buffer = self._buffer, ""
        return text

    def _render(self, numbers: str) -> str:
        rendered = []
        for raw in re.split(r"[,;]", numbers):
            number = int(raw)
            if number not in self._valid:
                continue
            if number not in self.used:
                self.used.append(number)
            marker = f"[{self.used.index(number) + 1}]"
            if marker not in rendered:
                rendered.append(marker)
        return "".join(rendered)

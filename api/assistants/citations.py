"""Docent's [n] citation markers as the Assistants API wrote them: ``【4:0†handbook.pdf】``
markers in the text and `file_citation` annotations pointing at them.

`render` turns a stored answer into text and annotations; `MarkerStream` does the same while
the answer streams, holding back a marker until its citation is known, so that the streamed
deltas add up to exactly the rendered text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_MARKER = re.compile(r"\[(\d{1,3})\]")
_PARTIAL = re.compile(r"\[\d{0,3}$")

FileIds = Callable[[int], str]


def marker(*, message_index: int, number: int, document: str) -> str:
    # OpenAI: 【{message index}:{search result index}†{file name}】; file names never hold 】.
    name = document.replace("】", "]") or "document"
    return f"【{message_index}:{number - 1}†{name}】"


def render(
    content: str,
    citations: Sequence[Mapping[str, Any]],
    *,
    message_index: int,
    file_id: FileIds,
) -> tuple[str, list[dict[str, Any]]]:
    stream = MarkerStream(message_index=message_index, file_id=file_id)
    for citation in citations:
        stream.cite(citation)
    text, annotations = stream.feed(content)
    tail, more = stream.finish()
    return text + tail, annotations + more


@dataclass
class MarkerStream:
    message_index: int
    file_id: FileIds
    _raw: str = ""
    _out: str = ""
    _known: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    annotations: list[dict[str, Any]] = field(default_factory=list)

    def cite(self, citation: Mapping[str, Any]) -> None:
        number = citation.get("number")
        if isinstance(number, int):
            self._known[number] = citation

    def feed(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        """The text that is now safe to send, and the annotations inside it."""
        self._raw += text
        return self._advance(final=False)

    def finish(self) -> tuple[str, list[dict[str, Any]]]:
        return self._advance(final=True)

    @property
    def text(self) -> str:
        return self._out

    def _advance(self, *, final: bool) -> tuple[str, list[dict[str, Any]]]:
        out: list[str] = []
        new: list[dict[str, Any]] = []
        while self._raw:
            start = self._raw.find("[")
            if start == -1:
                out.append(self._raw)
                self._raw = ""
                break
            out.append(self._raw[:start])
            rest = self._raw[start:]
            match = _MARKER.match(rest)
            if match:
                citation = self._known.get(int(match.group(1)))
                if citation is None and not final:
                    self._raw = rest  # the citation may still come
                    break
                self._raw = rest[match.end() :]
                if citation is None:
                    out.append(match.group(0))
                    continue
                label = marker(
                    message_index=self.message_index,
                    number=int(match.group(1)),
                    document=str(citation.get("document") or ""),
                )
                start_index = len(self._out) + sum(len(part) for part in out)
                annotation = {
                    "type": "file_citation",
                    "text": label,
                    "start_index": start_index,
                    "end_index": start_index + len(label),
                    "file_citation": {"file_id": self.file_id(int(citation["document_id"]))},
                }
                out.append(label)
                new.append(annotation)
                continue
            if _PARTIAL.match(rest) and not final:
                self._raw = rest
                break
            out.append("[")
            self._raw = rest[1:]
        text = "".join(out)
        self._out += text
        self.annotations += new
        return text, new

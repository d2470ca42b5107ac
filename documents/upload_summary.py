"""One message for a whole multi-file upload (the documents page's plain form and the admin),
however many files it had: what was queued, what was already there, what was refused and why."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.http import HttpRequest


@dataclass
class UploadSummary:
    queued: list[str] = field(default_factory=list)  # file names as stored
    duplicates: list[str] = field(default_factory=list)  # "copy.md (as a.md)"
    refused: list[str] = field(default_factory=list)  # reasons, each a sentence naming its file

    def text(self, *, where: str = "this corpus") -> str:
        parts = []
        if self.queued:
            parts.append(
                f"{plural(len(self.queued), 'file')} uploaded, queued for processing: "
                f"{names(self.queued)}."
            )
        if self.duplicates:
            parts.append(
                f"{len(self.duplicates)} already in {where}, not added again: "
                f"{names(self.duplicates)}."
            )
        if self.refused:
            parts.append(f"{len(self.refused)} refused: {' '.join(self.refused)}")
        return " ".join(parts)

    @property
    def level(self) -> int:
        """The worst outcome's: an error when nothing was added and something was refused."""
        if not self.queued:
            return messages.ERROR if self.refused else messages.INFO
        return messages.WARNING if self.refused or self.duplicates else messages.SUCCESS

    def tell(self, request: HttpRequest, *, where: str = "this corpus") -> None:
        if self.queued or self.duplicates or self.refused:
            messages.add_message(request, self.level, self.text(where=where))


def names(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"

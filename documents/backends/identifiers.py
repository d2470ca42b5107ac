"""Code-like tokens for full-text search: `task_acks_late`, `os.path.join()`, `std::vector`.

PostgreSQL's default parser cuts `task_acks_late` into three words and keeps `os.path.join` as
one "host" token, so a question naming the identifier ranks any passage with "task" and "late"
as high as the one that sets it, and a question about `join` never finds `os.path.join`. Chunks
and questions are therefore indexed the same way: the text as the parser sees it, plus each
identifier's parts (stemmed like any word) and the identifier itself as one exact lexeme. Pure
functions; the SQL uses their output as parameters.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+(?:(?:::|[./-])\w+)*")
_SEPARATORS = re.compile(r"(?:::|[./_-])+")
# tsvector positions stop at 16,383; an identifier repeated more often adds nothing to BM25.
_MAX_POSITIONS = 64


@dataclass(frozen=True)
class Identifiers:
    parts: str  # the identifiers' parts as words, for to_tsvector
    lexemes: str  # the whole identifiers as a tsvector literal, for ::tsvector


def identifiers(text: str) -> Identifiers:
    found = [token for token in _TOKEN.findall(text) if _is_identifier(token)]
    parts = " ".join(" ".join(_SEPARATORS.split(token)).strip() for token in found)
    counts = Counter(token.lower() for token in found if "_" in token or "::" in token)
    lexemes = " ".join(
        f"{_quote(token)}:{','.join(str(p) for p in range(1, min(n, _MAX_POSITIONS) + 1))}"
        for token, n in sorted(counts.items())
    )
    return Identifiers(parts=parts, lexemes=lexemes)


def _is_identifier(token: str) -> bool:
    inner = token.strip("_")
    return (
        any(separator in inner for separator in ("_", ".", "::", "/"))
        and any(char.isalpha() for char in token)
        and len(token) <= 200
    )


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"

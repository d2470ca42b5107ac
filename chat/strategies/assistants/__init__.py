"""Assistants threads (legacy): one OpenAI assistant per corpus, with the file_search tool over
the corpus's vector store, and one thread per conversation; runs are streamed.

OpenAI shut the Assistants API down on 2026-08-26. The strategy serves servers that still offer
it (ASSISTANTS_BASE_URL) and says so plainly anywhere else, so that a corpus can be switched to
File Search, which takes its conversations over with their history.

The model writes its citations into the text as `【4:0†source】` markers, each with a
file_citation annotation naming the file. They are cut out of the streamed text and replaced by
[n] markers; the passage is the file's search result of the run that best matches the citing
sentence (see remote.CitedFiles).

    strategy.py        AssistantsStrategy (settings name it by this package's path)
    run.py             one run's stream as the strategy's events
    source_markers.py  telling 【4:0†source】 markers from text as it streams
"""

from __future__ import annotations

from chat.strategies.assistants.source_markers import SourceMarker, SourceMarkerStream
from chat.strategies.assistants.strategy import (
    RESULTS_INCLUDE,
    SHUT_DOWN_ON,
    AssistantsStrategy,
)

__all__ = [
    "RESULTS_INCLUDE",
    "SHUT_DOWN_ON",
    "AssistantsStrategy",
    "SourceMarker",
    "SourceMarkerStream",
]

"""The retrieval metrics live in the app (evaluation/metrics.py), where evaluation runs use them;
the benchmark scripts keep importing them from here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.metrics import (
    Abstention,
    abstention,
    contains_answer,
    contains_figure,
    figure_pattern,
    first_relevant_rank,
    hit_at_k,
    mean,
    normalise,
    reciprocal_rank,
    unique_in_order,
)

__all__ = [
    "Abstention",
    "abstention",
    "contains_answer",
    "contains_figure",
    "figure_pattern",
    "first_relevant_rank",
    "hit_at_k",
    "mean",
    "normalise",
    "reciprocal_rank",
    "unique_in_order",
]

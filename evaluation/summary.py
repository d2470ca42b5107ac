"""A run's summary as a table (command line, README) and thresholds for CI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evaluation.models import EvaluationRun

# --min-<name> -> (summary key, what it is called)
THRESHOLDS: dict[str, tuple[str, str]] = {
    "hit1": ("hit_at_1", "hit@1"),
    "hit5": ("hit_at_5", "hit@5"),
    "mrr": ("reciprocal_rank", "MRR"),
    "answer-in-citations": ("answer_in_citations", "answer in cited passages"),
    "citations-valid": ("citations_valid", "citation validity"),
    "abstention": ("abstention_correct", "abstention correctness"),
}

# (summary key, column heading, kind) in table order.
COLUMNS: list[tuple[str, str, str]] = [
    ("hit_at_1", "hit@1", "rate"),
    ("hit_at_5", "hit@5", "rate"),
    ("reciprocal_rank", "MRR", "rate"),
    ("answer_in_citations", "answer cited", "rate"),
    ("citations_valid", "citations valid", "rate"),
    ("abstention_correct", "abstention right", "rate"),
    ("ttft_p50_ms", "TTFT p50 ms", "ms"),
    ("total_p50_ms", "total p50 ms", "ms"),
    ("total_p95_ms", "total p95 ms", "ms"),
    ("prompt_tokens", "prompt tok", "int"),
    ("completion_tokens", "completion tok", "int"),
    ("cost_usd", "cost USD", "usd"),
    ("errors", "errors", "int"),
]


def formatted(value: Any, kind: str) -> str:
    if value is None:
        return "–"  # noqa: RUF001
    if kind == "rate":
        return f"{value:.3f}"
    if kind == "ms":
        return f"{value:.0f}"
    if kind == "usd":
        return f"{value:.4f}"
    return str(value)


def summary_table(run: EvaluationRun) -> str:
    """A Markdown table, one row per configuration."""
    head = ["configuration", "questions", *[title for _, title, _ in COLUMNS]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in run.labels:
        row = run.summary.get(label, {})
        cells = [label, str(row.get("questions", 0))]
        cells += [formatted(row.get(key), kind) for key, _, kind in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def threshold_failures(
    summary: Mapping[str, Mapping[str, Any]], thresholds: Mapping[str, float]
) -> list[str]:
    """ "<configuration>: <metric> 0.61 < 0.70" for every configuration under a threshold. A
    metric that does not apply (no question has an expected answer string) fails too: a CI
    gate on it would otherwise pass silently."""
    names = {metric: label for metric, label in THRESHOLDS.values()}
    failures = []
    for label, row in summary.items():
        for metric, minimum in thresholds.items():
            value = row.get(metric)
            if value is None:
                failures.append(f"{label}: {names[metric]} not measured (< {minimum:.2f})")
            elif value < minimum:
                failures.append(f"{label}: {names[metric]} {value:.3f} < {minimum:.2f}")
    return failures

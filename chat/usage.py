"""What Docent used over a period, and what it probably cost: answers and their tokens,
embedding tokens of ingestion and re-indexing, OpenAI vector-store storage.

Plain read functions (selectors). `usage_report` groups by any entry of GROUPINGS; a new
grouping (say, per API token) is one more entry naming, for each source of usage it applies to,
the path to its key and to its display name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from chat.models import Message, MessageRole
from documents.models import Corpus, CorpusReindex, Document

if TYPE_CHECKING:
    from django.db.models import Aggregate, QuerySet

# OpenAI bills storage in GB (decimal); see VECTOR_STORE_PRICE_PER_GB_DAY in settings.
BYTES_PER_GB = 1_000_000_000


@dataclass(frozen=True)
class Grouping:
    label: str
    # Per source of usage (a key of SOURCES): the paths to the group's key and display name
    # from that source's model. Sources not named here count in the totals only.
    paths: Mapping[str, tuple[str, str]]
    none_label: str = "(none)"
    # Whether vector-store storage is attributed to the groups (it belongs to corpora).
    storage: bool = False


GROUPINGS: dict[str, Grouping] = {
    "corpus": Grouping(
        label="Corpus",
        paths={
            "answers": ("conversation__corpus_id", "conversation__corpus__name"),
            "ingestion": ("corpus_id", "corpus__name"),
            "reindexing": ("corpus_id", "corpus__name"),
        },
        storage=True,
    ),
    "user": Grouping(
        label="User",
        paths={
            "answers": ("conversation__user_id", "conversation__user__username"),
            "ingestion": ("uploaded_by_id", "uploaded_by__username"),
            "reindexing": ("created_by_id", "created_by__username"),
        },
        none_label="(no user: command line or system)",
    ),
    "model": Grouping(
        label="Model",
        paths={
            "answers": ("model", "model"),
            "ingestion": ("corpus__embedding_model", "corpus__embedding_model"),
            "reindexing": ("embedding_model", "embedding_model"),
        },
        none_label="(no model recorded)",
    ),
}


@dataclass(frozen=True)
class _Source:
    """Records of one kind of usage within a period."""

    records: Callable[[dt.datetime, dt.datetime], QuerySet[Any]]
    model_path: str  # the model the tokens were spent on
    # UsageRow counter -> (what sums it, the price it is billed at: "input", "output" or None)
    metrics: Mapping[str, tuple[Aggregate, str | None]]


SOURCES: dict[str, _Source] = {
    # Answers Docent produced: turns an API client supplied as history carry no strategy.
    "answers": _Source(
        records=lambda start, end: Message.objects.filter(
            role=MessageRole.ASSISTANT, created_at__gte=start, created_at__lt=end
        ).exclude(strategy=""),
        model_path="model",
        metrics={
            "answers": (Count("pk"), None),
            "prompt_tokens": (Sum("prompt_tokens"), "input"),
            "completion_tokens": (Sum("completion_tokens"), "output"),
        },
    ),
    # A document records the tokens of its latest ingestion, counted when that finished, at
    # the corpus's embedding model.
    "ingestion": _Source(
        records=lambda start, end: Document.objects.filter(
            finished_at__gte=start, finished_at__lt=end, embedding_tokens__gt=0
        ),
        model_path="corpus__embedding_model",
        metrics={"embedding_tokens": (Sum("embedding_tokens"), "input")},
    ),
    "reindexing": _Source(
        records=lambda start, end: CorpusReindex.objects.filter(
            finished_at__gte=start, finished_at__lt=end, embedding_tokens__gt=0
        ),
        model_path="embedding_model",
        metrics={"embedding_tokens": (Sum("embedding_tokens"), "input")},
    ),
}


@dataclass
class UsageRow:
    key: Any
    name: str
    answers: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    embedding_tokens: int = 0
    storage_bytes: int = 0
    token_cost: float = 0.0  # USD, tokens of priced models only
    storage_cost: float = 0.0  # USD
    unpriced_models: set[str] = field(default_factory=set)

    @property
    def cost(self) -> float:
        return self.token_cost + self.storage_cost

    @property
    def storage_gb(self) -> float:
        return self.storage_bytes / BYTES_PER_GB


@dataclass(frozen=True)
class UsageReport:
    start: dt.datetime
    end: dt.datetime
    grouping: Grouping
    rows: list[UsageRow]  # most expensive first
    total: UsageRow
    storage_days: float  # of the period, up to now, that storage is billed for


def usage_report(*, start: dt.datetime, end: dt.datetime, group_by: str) -> UsageReport:
    """Usage from `start` (inclusive) to `end` (exclusive), grouped by GROUPINGS[group_by].

    Storage is estimated from each store's last recorded size, as if it had been that size
    for the whole period (up to now).
    """
    grouping = GROUPINGS[group_by]
    rows: dict[Any, UsageRow] = {}
    total = UsageRow(key=None, name="Total")
    for source_name, source in SOURCES.items():
        paths = grouping.paths.get(source_name)
        columns = [source.model_path, *(paths or ())]
        sums = {f"sum_{name}": aggregate for name, (aggregate, _) in source.metrics.items()}
        for record in source.records(start, end).values(*columns).annotate(**sums).order_by():
            counts = {name: int(record[f"sum_{name}"] or 0) for name in source.metrics}
            model = record[source.model_path] or ""
            cost = _cost(model, counts, source.metrics)
            targets = [total]
            if paths is not None:
                key = record[paths[0]]
                if key not in rows:
                    rows[key] = UsageRow(key=key, name=record[paths[1]] or grouping.none_label)
                targets.append(rows[key])
            for row in targets:
                for name, count in counts.items():
                    setattr(row, name, getattr(row, name) + count)
                if cost is None:
                    row.unpriced_models.add(model or "(unknown model)")
                else:
                    row.token_cost += cost

    now = timezone.now()
    storage_days = max(0.0, (min(end, now) - start).total_seconds() / 86400)
    stores = [
        (pk, name, int(size or 0))
        for pk, name, size in Corpus.objects.filter(remote_usage_bytes__gt=0).values_list(
            "pk", "name", "remote_usage_bytes"
        )
    ]
    total.storage_bytes = sum(size for _, _, size in stores)
    total.storage_cost = storage_cost(total_bytes=total.storage_bytes, days=storage_days)
    if grouping.storage:
        # The free allowance is the account's: each store bears its share of the bill.
        for pk, name, size in stores:
            row = rows.setdefault(pk, UsageRow(key=pk, name=name))
            row.storage_bytes = size
            row.storage_cost = total.storage_cost * size / total.storage_bytes
    ordered = sorted(rows.values(), key=lambda row: (-row.cost, row.name))
    return UsageReport(
        start=start,
        end=end,
        grouping=grouping,
        rows=ordered,
        total=total,
        storage_days=storage_days,
    )


def model_price(model: str) -> Mapping[str, float] | None:
    """settings.MODEL_PRICES for `model`, or for the longest name it continues with a dash
    ("gpt-4.1-mini-2025-04-14" is priced as "gpt-4.1-mini"); None when unknown."""
    prices: Mapping[str, Mapping[str, float]] = settings.MODEL_PRICES
    if model in prices:
        return prices[model]
    known = [name for name in prices if model.startswith(f"{name}-")]
    return prices[max(known, key=len)] if known else None


def storage_cost(*, total_bytes: int, days: float) -> float:
    """USD for keeping `total_bytes` in vector stores for `days`, the free allowance off."""
    billed_gb = max(0.0, total_bytes / BYTES_PER_GB - settings.VECTOR_STORE_FREE_GB)
    return float(billed_gb * settings.VECTOR_STORE_PRICE_PER_GB_DAY * days)


def _cost(
    model: str, counts: Mapping[str, int], metrics: Mapping[str, tuple[Aggregate, str | None]]
) -> float | None:
    """USD for these token counts of `model`; None when some of them have no price."""
    price = model_price(model) or {}
    cost = 0.0
    for name, (_, kind) in metrics.items():
        if kind is None or not counts[name]:
            continue
        if kind not in price:
            return None
        cost += counts[name] * float(price[kind]) / 1_000_000
    return cost

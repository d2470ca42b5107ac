"""Lexical retrieval (BM25) over the chunks of completed vector-store files."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .text import content_terms, tokenize
from .wire import bad_request

if TYPE_CHECKING:
    from .state import State, VectorStoreFile

K1 = 1.2
B = 0.75

COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")


@dataclass
class Hit:
    file_id: str
    filename: str
    vector_store_id: str
    score: float
    attributes: dict[str, Any]
    text: str
    chunk_index: int


def query_weights(queries: list[str]) -> dict[str, float]:
    """Content words of the queries; a query of stopwords only still searches its words."""
    weights: dict[str, float] = {}
    for query in queries:
        terms = content_terms(query) or tokenize(query)
        for term in terms:
            weights[term] = 1.0
    return weights


def search(
    state: State,
    vector_store_ids: list[str],
    weights: dict[str, float],
    *,
    max_num_results: int = 10,
    filters: dict[str, Any] | None = None,
    score_threshold: float = 0.0,
) -> list[Hit]:
    candidates: list[tuple[VectorStoreFile, int]] = []
    for store_id in vector_store_ids:
        store = state.vector_stores.get(store_id)
        if store is None:
            continue
        for vs_file in store.files.values():
            if vs_file.status != "completed":
                continue
            if filters is not None and not matches_filter(vs_file.attributes, filters):
                continue
            candidates.extend((vs_file, index) for index in range(len(vs_file.chunks)))
    if not candidates or not weights:
        return []

    lengths = [len(vs_file.chunks[index].terms) for vs_file, index in candidates]
    average = sum(lengths) / len(lengths) or 1.0
    document_frequency: Counter[str] = Counter()
    for vs_file, index in candidates:
        document_frequency.update(set(vs_file.chunks[index].terms))
    total = len(candidates)
    idf = {
        term: math.log(
            1 + (total - document_frequency[term] + 0.5) / (document_frequency[term] + 0.5)
        )
        for term in weights
    }

    hits = []
    for (vs_file, index), length in zip(candidates, lengths, strict=True):
        counts = Counter(vs_file.chunks[index].terms)
        raw = 0.0
        for term, weight in weights.items():
            frequency = counts.get(term, 0)
            if frequency:
                norm = frequency + K1 * (1 - B + B * length / average)
                raw += weight * idf[term] * frequency * (K1 + 1) / norm
        # Squash the unbounded BM25 sum into 0..1 like the API's scores; the order is kept.
        score = round(1.0 - math.exp(-raw), 6)
        if score <= 0 or score < score_threshold:
            continue
        stored = state.files.get(vs_file.file_id)
        hits.append(
            Hit(
                file_id=vs_file.file_id,
                filename=stored.filename if stored else "",
                vector_store_id=vs_file.vector_store_id,
                score=score,
                attributes=vs_file.attributes,
                text=vs_file.chunks[index].text,
                chunk_index=index,
            )
        )
    hits.sort(key=lambda hit: -hit.score)  # stable: ties keep store and file order
    return hits[:max_num_results]


def validate_filter(spec: Any, param: str = "filters") -> dict[str, Any]:
    if not isinstance(spec, dict) or "type" not in spec:
        raise bad_request(f"Invalid '{param}': expected an object with a 'type'.", param=param)
    kind = spec["type"]
    if kind in ("and", "or"):
        children = spec.get("filters")
        if not isinstance(children, list):
            raise bad_request(f"Missing required parameter: '{param}.filters'.", param=param)
        for child in children:
            validate_filter(child, param)
    elif kind in COMPARISONS:
        if "key" not in spec or "value" not in spec:
            raise bad_request(
                f"Invalid '{param}': comparison filters need 'key' and 'value'.", param=param
            )
        if kind in ("in", "nin") and not isinstance(spec["value"], list):
            raise bad_request(f"Invalid '{param}.value': expected an array.", param=param)
    else:
        raise bad_request(
            f"Invalid value: '{kind}'. Supported values are: {', '.join(COMPARISONS)}, and, or.",
            param=f"{param}.type",
        )
    return spec


def matches_filter(attributes: dict[str, Any], spec: dict[str, Any]) -> bool:
    kind = spec["type"]
    if kind == "and":
        return all(matches_filter(attributes, child) for child in spec["filters"])
    if kind == "or":
        return any(matches_filter(attributes, child) for child in spec["filters"])
    key, expected = spec["key"], spec["value"]
    if key not in attributes:
        return kind in ("ne", "nin")
    actual = attributes[key]
    if kind == "eq":
        return bool(actual == expected)
    if kind == "ne":
        return bool(actual != expected)
    if kind == "in":
        return actual in expected
    if kind == "nin":
        return actual not in expected
    try:
        if kind == "gt":
            return bool(actual > expected)
        if kind == "gte":
            return bool(actual >= expected)
        if kind == "lt":
            return bool(actual < expected)
        return bool(actual <= expected)
    except TypeError:  # comparing a string with a number matches nothing
        return False

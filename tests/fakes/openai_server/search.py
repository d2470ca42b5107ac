"""Lexical retrieval (BM25) over the chunks of completed vector-store files."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .text import content_terms, tokenize
from .wire import bad_request

if TYPE_CHECKING:
    from .state import Chunk, State, VectorStoreFile

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
    """The chunks that match, best first: BM25 over every chunk of the searched stores.

    The collection statistics (chunk count, average length, document frequencies) come from
    all the stores' completed chunks; `filters` only narrow which chunks are candidates, as a
    filtered query against an index keeps the index's statistics."""
    collection: list[tuple[VectorStoreFile, Chunk]] = []
    candidates: list[tuple[VectorStoreFile, int]] = []
    for store_id in dict.fromkeys(vector_store_ids):
        store = state.vector_stores.get(store_id)
        if store is None:
            continue
        for vs_file in store.files.values():
            if vs_file.status != "completed":
                continue
            collection.extend((vs_file, chunk) for chunk in vs_file.chunks)
            if filters is None or matches_filter(vs_file.attributes, filters):
                candidates.extend((vs_file, index) for index in range(len(vs_file.chunks)))
    if not candidates or not weights:
        return []

    total = len(collection)
    average = sum(len(chunk.terms) for _, chunk in collection) / total or 1.0
    document_frequency: Counter[str] = Counter()
    for _, chunk in collection:
        document_frequency.update(term for term in weights if term in chunk.counts)
    idf = {
        term: math.log(
            1 + (total - document_frequency[term] + 0.5) / (document_frequency[term] + 0.5)
        )
        for term in weights
    }
    # A term's BM25 contribution tends to weight * idf * (k1 + 1) as its frequency grows, so
    # BM25 over the sum of those is in [0, 1) (OpenAI's scores are in [0, 1]), keeps BM25's
    # order and, unlike a score relative to the best hit, means the same thing from one query
    # to the next, so `score_threshold` has something to cut. Its square root puts a chunk
    # holding each query word once, at average length, at 0.67: near what OpenAI gives a
    # plainly matching chunk (0.75 in the recorded AssistantsTests__FileSearchWorks, which
    # asks for score_threshold 0.5).
    ceiling = sum(weight * idf[term] * (K1 + 1) for term, weight in weights.items())
    if ceiling <= 0:
        return []

    scored: list[tuple[float, int, VectorStoreFile, int]] = []
    for position, (vs_file, index) in enumerate(candidates):
        chunk = vs_file.chunks[index]
        length = len(chunk.terms)
        raw = 0.0
        for term, weight in weights.items():
            frequency = chunk.counts.get(term, 0)
            if frequency:
                norm = frequency + K1 * (1 - B + B * length / average)
                raw += weight * idf[term] * frequency * (K1 + 1) / norm
        score = math.sqrt(min(raw / ceiling, 1.0))
        if score <= 0 or score < score_threshold:
            continue
        scored.append((score, position, vs_file, index))
    scored.sort(key=lambda item: (-item[0], item[1]))  # ties keep store, file and chunk order

    hits = []
    for score, _, vs_file, index in scored[:max_num_results]:
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
    return hits


def validate_ranking(spec: Any, param: str = "ranking_options") -> dict[str, Any]:
    """Ranking options as given; a score_threshold outside [0, 1] is refused, as in the spec."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise bad_request(f"Invalid type for '{param}': expected an object.", param=param)
    threshold = spec.get("score_threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 1
    ):
        raise bad_request(
            f"Invalid '{param}.score_threshold': must be a number between 0 and 1.",
            param=f"{param}.score_threshold",
        )
    return spec


def validate_max_num_results(value: Any, param: str = "max_num_results") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 50:
        raise bad_request(f"Invalid '{param}': must be between 1 and 50.", param=param)
    return value


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

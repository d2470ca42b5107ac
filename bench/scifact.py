"""Retrieval quality on BEIR SciFact through Docent's own ingestion and search code.

    .venv/bin/python bench/scifact.py [--reingest]

Each of the 5,183 abstracts is uploaded as a document ("title\\n\\ntext") into the corpus
`bench-scifact` and ingested by the same service the worker runs; the 300 test queries go
through `corpus_search` in each mode. Documents are ranked by their best chunk. nDCG@10 uses
the binary test qrels. The corpus is kept between runs (pass --reingest to rebuild it).
SciFact is CC BY-NC: it is read from ../shared/data at run time, never copied into the repo.
"""

from __future__ import annotations

import argparse
import time

from _common import corpus_ensure, ndcg_at_k, scifact_files, scifact_load
from _setup import SHARED_DATA, django_setup, median

REFERENCE = {"BM25 (BEIR paper)": 0.665, "all-MiniLM-L6-v2 (MTEB)": 0.645}
SLUG = "bench-scifact"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reingest", action="store_true")
    parser.add_argument("--data", default=str(SHARED_DATA / "beir-scifact"))
    args = parser.parse_args()
    django_setup()
    from pathlib import Path

    from documents import services

    docs, queries, qrels = scifact_load(Path(args.data))
    corpus = corpus_ensure(
        slug=SLUG,
        name="BEIR SciFact (benchmark)",
        files=scifact_files(docs),
        reingest=args.reingest,
    )
    print(f"corpus {SLUG}: {len(docs)} documents, {len(queries)} test queries")
    results = {}
    for mode in ("fulltext", "vector", "hybrid"):
        scores, latencies = [], []
        for query_id, text in queries.items():
            started = time.perf_counter()
            hits = services.corpus_search(corpus=corpus, query=text, k=50, mode=mode)
            latencies.append((time.perf_counter() - started) * 1000)
            ranked: list[str] = []
            for hit in hits:
                doc_id = hit.document.removesuffix(".txt")
                if doc_id not in ranked:
                    ranked.append(doc_id)
            scores.append(ndcg_at_k(ranked, qrels[query_id]))
        results[mode] = sum(scores) / len(scores)
        print(f"{mode:>9}: nDCG@10 {results[mode]:.4f}  (median query {median(latencies):.1f} ms)")
    print()
    print("| retrieval | nDCG@10 |")
    print("|---|---|")
    for mode, label in (
        ("fulltext", "Docent full-text (PostgreSQL)"),
        ("vector", "Docent vector (all-MiniLM-L6-v2, HNSW)"),
        ("hybrid", "Docent hybrid (RRF)"),
    ):
        print(f"| {label} | {results[mode]:.3f} |")
    for label, value in REFERENCE.items():
        print(f"| {label}, published | {value:.3f} |")
    best_reference = max(REFERENCE.values())
    verdict = "above" if results["hybrid"] > best_reference else "NOT above"
    print(f"\nhybrid {results['hybrid']:.3f} is {verdict} both references.")


if __name__ == "__main__":
    main()

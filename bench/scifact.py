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
import io
import json
import math
import time
from collections import defaultdict

from _setup import SHARED_DATA, django_setup, median

REFERENCE = {"BM25 (BEIR paper)": 0.665, "all-MiniLM-L6-v2 (MTEB)": 0.645}
SLUG = "bench-scifact"


def load(data_dir):
    corpus = [json.loads(line) for line in (data_dir / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data_dir / "queries.jsonl").open())}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for line in list((data_dir / "qrels-test.tsv").open())[1:]:
        query_id, doc_id, score = line.split()
        qrels[query_id][doc_id] = int(score)
    return corpus, {qid: queries[qid] for qid in qrels}, qrels


def ndcg_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(
        (2 ** relevant.get(doc, 0) - 1) / math.log2(i + 2) for i, doc in enumerate(ranked[:10])
    )
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum((2**rel - 1) / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def ensure_corpus(docs: list[dict], reingest: bool):
    from documents import services
    from documents.models import Corpus, Document

    corpus = Corpus.objects.filter(slug=SLUG).first()
    if corpus is not None and reingest:
        services.corpus_delete(corpus=corpus)
        corpus = None
    if corpus is None:
        corpus = services.corpus_create(name="BEIR SciFact (benchmark)", slug=SLUG)
    ready = Document.objects.filter(corpus=corpus, status="ready").count()
    if ready == len(docs):
        return corpus
    print(f"ingesting {len(docs) - ready} SciFact abstracts (once; kept for later runs)")
    started = time.perf_counter()
    for i, doc in enumerate(docs, start=1):
        text = f"{doc['title']}\n\n{doc['text']}".encode()
        outcome = services.document_upload(
            corpus=corpus, file=io.BytesIO(text), filename=f"{doc['_id']}.txt"
        )
        if outcome.document.status != "ready":
            services.document_ingest(document_id=outcome.document.pk)
        if i % 500 == 0:
            print(f"  {i}/{len(docs)} in {time.perf_counter() - started:.0f} s", flush=True)
    return corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reingest", action="store_true")
    parser.add_argument("--data", default=str(SHARED_DATA / "beir-scifact"))
    args = parser.parse_args()
    django_setup()
    from pathlib import Path

    from documents import services

    docs, queries, qrels = load(Path(args.data))
    corpus = ensure_corpus(docs, args.reingest)
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
            scores.append(ndcg_at_10(ranked, qrels[query_id]))
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

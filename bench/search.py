"""Hybrid search latency over 100,000 chunks, against the raw SQL alone, and HNSW recall.

    .venv/bin/python bench/search.py [--chunks 100000] [--queries 300]

Data: real text. Passages of 80 words (stride 27, like overlapping chunks) are cut from the
SciFact abstracts, PubMedQA contexts, the SEC 10-Q filings, a 10-K and the long books and
manuals of ../shared/data, until there are --chunks of them; each is embedded by
all-MiniLM-L6-v2 (its first 128 tokens; the one-time set-up takes 45 minutes or more on 2
cores; cached under .data/bench/). They are loaded into the corpus `bench-search` of the
benchmark database in documents of 50 chunks, with the same tsvectors and indexes as ingested
chunks.

Queries: SciFact test claims and SEC 10-Q questions, embedded once up front. Measured per
query, after warm-up:
- backend: PgvectorBackend.search_by_vector (Python + SQL, the query already embedded);
- raw SQL: the same statement and parameters through a bare psycopg cursor;
- embedding: embedding the query (reported separately; the ratio excludes it).
Recall@10: the HNSW top 10 (vector mode) against exact search (index scans disabled).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import time

import numpy as np
from _common import passage_vectors
from _setup import ROOT, SHARED_DATA, django_setup, median, percentile

SLUG = "bench-search"
CACHE = ROOT / ".data" / "bench"
WORDS, STRIDE = 80, 27


def text_sources() -> list[str]:
    from documents.parsing import parse_file

    texts = []
    for line in (SHARED_DATA / "beir-scifact" / "corpus.jsonl").open():
        doc = json.loads(line)
        texts.append(f"{doc['title']} {doc['text']}")
    pubmed = json.loads((SHARED_DATA / "rag-qa" / "pubmedqa-pqal" / "ori_pqal.json").read_text())
    texts += [" ".join(item["CONTEXTS"]) for item in pubmed.values()]
    paths = sorted((SHARED_DATA / "rag-qa" / "docugami-sec-10q" / "docs").glob("*.pdf"))
    paths += [
        SHARED_DATA / "docs" / "pdf-large" / "DA-619p.pdf",
        SHARED_DATA / "docs" / "pdf-large" / "pdf2image-memory-error-test-400p.pdf",
        SHARED_DATA / "docs" / "docx" / "handbook-872p.docx",
        SHARED_DATA / "docs" / "html" / "example-10k.html",
        SHARED_DATA / "docs" / "epub" / "winter-sports.epub",
        SHARED_DATA / "docs" / "pdf-large" / "GeoTopo-komprimiert.pdf",
    ]
    paths += sorted((SHARED_DATA / "docs" / "txt").glob("book-war-and-peace-*"))
    for path in paths:
        if path.exists():
            parsed = parse_file(path, filename=path.name)
            texts.append("\n".join(page.text for page in parsed.pages))
    return texts


def passages(limit: int) -> list[str]:
    out: list[str] = []
    for text in text_sources():
        words = text.split()
        for start in range(0, max(1, len(words) - WORDS // 2), STRIDE):
            out.append(" ".join(words[start : start + WORDS]))
            if len(out) == limit:
                return out
    raise SystemExit(f"only {len(out)} passages of text available; ask for fewer --chunks")


def embeddings(texts: list[str]) -> np.ndarray:
    return passage_vectors(texts, CACHE / f"search-{len(texts)}.npy", batch=2048)


def load_corpus(texts: list[str], vectors: np.ndarray):
    from django.db import connection

    from documents import services
    from documents.backends.pgvector_sql import hnsw_index_sql
    from documents.models import Chunk, Corpus, Document

    corpus = Corpus.objects.filter(slug=SLUG).first()
    if corpus and Chunk.objects.filter(corpus=corpus).count() == len(texts):
        return corpus
    if corpus:
        services.corpus_delete(corpus=corpus)
    corpus = services.corpus_create(name="Search benchmark", slug=SLUG)
    print(f"loading {len(texts)} chunks", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Building the HNSW index once after the load is much faster than growing it row by row.
        cursor.execute("DROP INDEX IF EXISTS chunk_embedding_hnsw_384")
    per_document = 50
    for start in range(0, len(texts), per_document):
        document = Document.objects.create(
            corpus=corpus,
            filename=f"passages-{start // per_document:05d}.txt",
            size_bytes=1,
            sha256=f"{start:064d}",
            status="ready",
            page_count=1,
        )
        Chunk.objects.bulk_create(
            Chunk(
                document=document,
                corpus=corpus,
                ordinal=i,
                text=texts[start + i],
                page_start=1,
                page_end=1,
                char_start=0,
                char_end=len(texts[start + i]),
                token_count=100,
                embedding=vectors[start + i],
            )
            for i in range(min(per_document, len(texts) - start))
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE documents_chunk SET search_vector = to_tsvector('english', text) "
            "WHERE corpus_id = %s",
            [corpus.pk],
        )
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(hnsw_index_sql(384))
        cursor.execute("VACUUM ANALYZE documents_chunk")
        cursor.execute("ANALYZE documents_document")
    print(f"loaded and indexed in {time.perf_counter() - started:.0f} s", flush=True)
    return corpus


def queries(limit: int) -> list[str]:
    out = [
        json.loads(line)["text"] for line in (SHARED_DATA / "beir-scifact" / "queries.jsonl").open()
    ][: limit // 2]
    with (SHARED_DATA / "rag-qa" / "docugami-sec-10q" / "qna_data.csv").open(
        encoding="utf-8-sig"
    ) as handle:
        out += [row["Question"] for row in csv.DictReader(handle)]
    return out[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    django_setup()
    from django.db import connection, transaction

    from documents.backends.base import get_backend
    from documents.backends.embeddings import get_embedder
    from documents.backends.pgvector_sql import run_search, search_sql

    texts = passages(args.chunks)
    vectors = embeddings(texts)
    corpus = load_corpus(texts, vectors)
    backend = get_backend("pgvector")
    embedder = get_embedder(corpus.embedding_model)
    questions = queries(args.queries)
    embed_ms, query_vectors = [], []
    for question in questions:
        started = time.perf_counter()
        query_vectors.append(embedder.embed_query(question))
        embed_ms.append((time.perf_counter() - started) * 1000)

    def backend_search(i: int, mode: str = "hybrid") -> list:
        return backend.search_by_vector(
            corpus=corpus, query=questions[i], vector=query_vectors[i], k=10, mode=mode
        )

    connection.ensure_connection()
    raw = connection.connection  # the bare psycopg connection under Django's wrapper

    settings_sql = "SET LOCAL hnsw.ef_search = 100; SET LOCAL hnsw.iterative_scan = relaxed_order"

    def raw_search(i: int, mode: str = "hybrid") -> list:
        sql, params = search_sql(
            corpus_id=corpus.pk, index_version=corpus.index_version, dims=384,
            text_search_config="english", query=questions[i],
            vector=query_vectors[i], k=10, candidates=40, mode=mode,
        )  # fmt: skip
        with raw.transaction(), raw.cursor() as cursor:
            cursor.execute(settings_sql)
            return run_search(cursor, sql, params)  # the terms first, as the backend does

    for i in range(min(30, len(questions))):  # warm caches and connections
        backend_search(i)
        raw_search(i)
    results: dict[str, list[float]] = {"backend": [], "raw": []}
    for i in range(len(questions)):
        # Alternate the order so neither side always runs on the warmer cache.
        order = ("backend", "raw") if i % 2 else ("raw", "backend")
        for name in order:
            started = time.perf_counter()
            (backend_search if name == "backend" else raw_search)(i)
            results[name].append((time.perf_counter() - started) * 1000)

    recalls = []
    for i in range(len(questions)):
        approx = [hit.chunk_id for hit in backend_search(i, "vector")]
        sql, params = search_sql(
            corpus_id=corpus.pk, index_version=corpus.index_version, dims=384,
            text_search_config="english", query=questions[i],
            vector=query_vectors[i], k=10, candidates=10, mode="vector",
        )  # fmt: skip
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute(sql, params)
            exact = [row[0] for row in cursor.fetchall()]
        recalls.append(len(set(approx) & set(exact)) / max(1, len(exact)))

    sql, params = search_sql(
        corpus_id=corpus.pk, index_version=corpus.index_version, dims=384,
        text_search_config="english", query=questions[0],
        vector=query_vectors[0], k=10, candidates=40, mode="hybrid",
    )  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(settings_sql)
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
        plan = [row[0] for row in cursor.fetchall()]
    index_lines = [line.strip() for line in plan if re.search(r"Index Scan|Execution Time", line)]

    b50, b95 = median(results["backend"]), percentile(results["backend"], 95)
    r50, r95 = median(results["raw"]), percentile(results["raw"], 95)
    print(f"\nchunks: {len(texts)}, queries: {len(questions)}")
    print(f"hybrid search (backend, query embedded): p50 {b50:.1f} ms, p95 {b95:.1f} ms")
    print(f"raw SQL alone:                           p50 {r50:.1f} ms, p95 {r95:.1f} ms")
    print(f"ratio backend / raw: p50 {b50 / r50:.2f}, p95 {b95 / r95:.2f}")
    print(f"query embedding: p50 {median(embed_ms):.1f} ms, p95 {percentile(embed_ms, 95):.1f} ms")
    print(f"recall@10 of HNSW against exact search: {sum(recalls) / len(recalls):.3f}")
    print("plan (EXPLAIN ANALYZE, first query):")
    for line in index_lines:
        print(f"  {line}")


if __name__ == "__main__":
    main()

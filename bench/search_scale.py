"""Hybrid search over 1,000,000 chunks in 200 corpora of very different sizes.

    LOCAL_DATABASE_NAME=docent_bench_scale .venv/bin/python bench/search_scale.py \
        [--chunks 1000000] [--corpora 200] [--pool 2000] [--queries 200] [--partial-min 0]

Data (a documented cheap method: embedding a million passages would take days on 2 cores):
- a pool of --pool real passages (80 words, stride 27) cut from the SciFact abstracts and the
  PubMedQA contexts of ../shared/data, embedded once by all-MiniLM-L6-v2 (cached under
  .data/bench/);
- each chunk mixes three random pool passages a, b, c: its vector is
  normalise(w_a v_a + w_b v_b + w_c v_c + 0.1 g), weights uniform in [0.3, 1] and g a Gaussian
  vector of unit length; its text is the first 26 words of each (real English for the
  full-text side). Mixing three keeps neighbours graded: an earlier variant dominated by one
  passage (v_a + w v_b, 500 near-copies of each passage at 1M) made tight clusters on which
  HNSW missed whole clusters (unfiltered recall@10 0.78 at 100k), unlike real embeddings
  (bench/search.py: 0.979);
- corpus sizes: --chunks * 0.2 for each of the first three corpora (200k at 1M), one of 6%,
  the rest between 0.1% and 0.5% of --chunks (1k-5k at 1M), log-uniform, scaled to the total;
- documents of 50 chunks; 3% of each corpus's documents are "processing" (their chunks must
  never be returned), so every query filters on the corpus and its ready documents.
Loaded with binary COPY into a staging table, then one INSERT ... SELECT per batch computing
the tsvectors (the BM25 statistics triggers run as in production); the GIN and HNSW indexes
are built after the load, timed.

Queries: SciFact test claims, embedded for real, sent through PgvectorBackend.search_by_vector
(the production function and SQL; the query is already embedded) to a large corpus (200k at
1M), a medium one (6%) and a small one (about 2,000 chunks at 1M). Recall@10 of the vector
mode against exact search: the exact top 10 is computed in numpy over the corpus's own ready
chunks as stored in the database. The same questions also go through the whole retrieval
pipeline (documents.retrieval.retrieve: search, then the configured stages), their vectors
already cached, to time what the stages add.

--partial-min N also builds, for every corpus of at least N chunks, a partial HNSW index
restricted to that corpus, and measures again (the planner picks it for that corpus).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from _common import passage_vectors
from _setup import ROOT, SHARED_DATA, django_setup, median, percentile

CACHE = ROOT / ".data" / "bench"
WORDS, STRIDE = 80, 27
PREFIX = "scale-"
PER_DOCUMENT = 50
NOT_READY_SHARE = 0.03
MIX, NOISE = 3, 0.1  # pool passages per chunk, Gaussian noise (norm) added to their mix
METHOD = f"mix{MIX} noise{NOISE}"  # kept on the corpora: a rerun reloads when it changes


def pool_passages(limit: int) -> list[str]:
    texts = []
    for line in (SHARED_DATA / "beir-scifact" / "corpus.jsonl").open():
        doc = json.loads(line)
        texts.append(f"{doc['title']} {doc['text']}")
    pubmed = json.loads((SHARED_DATA / "rag-qa" / "pubmedqa-pqal" / "ori_pqal.json").read_text())
    texts += [" ".join(item["CONTEXTS"]) for item in pubmed.values()]
    # Interleave the two sources so a small pool still has both.
    scifact, rest = texts[: len(pubmed)], texts[len(pubmed) : -len(pubmed)]
    texts = [t for pair in zip(scifact, texts[-len(pubmed) :], strict=True) for t in pair] + rest
    out: list[str] = []
    for text in texts:
        words = text.split()
        for start in range(0, max(1, len(words) - WORDS // 2), STRIDE):
            out.append(" ".join(words[start : start + WORDS]))
            if len(out) == limit:
                return out
    return out


def pool_vectors(texts: list[str]) -> np.ndarray:
    return passage_vectors(texts, CACHE / f"scale-pool-{len(texts)}.npy", batch=1024)


def corpus_sizes(total: int, count: int, rng: np.random.Generator) -> list[int]:
    large = [int(total * 0.2)] * 3 + [int(total * 0.06)]
    rest = total - sum(large)
    small = np.exp(rng.uniform(np.log(0.001 * total), np.log(0.005 * total), count - len(large)))
    small = np.maximum(1, np.round(small * rest / small.sum())).astype(int)
    small[-1] += rest - int(small.sum())
    return large + [int(x) for x in small]


def load(args: argparse.Namespace, texts: list[str], pool: np.ndarray) -> dict[str, float]:
    """Create the corpora and their chunks unless the same set-up is already loaded."""
    from django.db import connection
    from pgvector.psycopg import register_vector

    from documents import services
    from documents.backends.pgvector_sql import hnsw_index_sql
    from documents.models import Chunk, Corpus, Document

    rng = np.random.default_rng(17)
    sizes = corpus_sizes(args.chunks, args.corpora, rng)
    corpora = list(Corpus.objects.filter(slug__startswith=PREFIX).order_by("pk"))
    if (
        len(corpora) == len(sizes)
        and corpora[0].description == METHOD
        and Chunk.objects.count() == args.chunks
    ):
        print("data already loaded", flush=True)
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE documents_chunk, documents_document, documents_corpus, "
            "documents_indexstats, documents_lexemestat CASCADE"
        )
    corpora = [
        services.corpus_create(name=f"Scale {i:03d}", slug=f"{PREFIX}{i:03d}", description=METHOD)
        for i in range(len(sizes))
    ]
    timings: dict[str, float] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'documents_chunk' "
            "AND indexname IN ('chunk_corpus_search_gin', 'chunk_embedding_hnsw_384')"
        )
        for name, _definition in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            "CREATE UNLOGGED TABLE IF NOT EXISTS bench_scale_staging (document_id bigint, "
            "corpus_id bigint, ordinal integer, text text, embedding vector(384))"
        )
        cursor.execute("TRUNCATE bench_scale_staging")
    connection.ensure_connection()
    raw = connection.connection
    register_vector(raw)
    words = [text.split() for text in texts]
    started = time.perf_counter()
    loaded = 0
    batch: list[tuple] = []

    def flush() -> None:
        with raw.cursor() as cursor:
            with cursor.copy("COPY bench_scale_staging FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["bigint", "bigint", "integer", "text", "vector"])
                for row in batch:
                    copy.write_row(row)
            cursor.execute(
                "INSERT INTO documents_chunk (document_id, corpus_id, ordinal, text, page_start, "
                "page_end, char_start, char_end, token_count, embedding, search_vector) "
                "SELECT document_id, corpus_id, ordinal, text, 1, 1, 0, length(text), 110, "
                "embedding, to_tsvector('english', text) FROM bench_scale_staging"
            )
            cursor.execute("TRUNCATE bench_scale_staging")
        raw.commit() if not raw.autocommit else None
        batch.clear()

    for corpus, size in zip(corpora, sizes, strict=True):
        documents = Document.objects.bulk_create(
            Document(
                corpus=corpus,
                filename=f"passages-{n:05d}.txt",
                size_bytes=1,
                sha256=f"{corpus.pk:032d}{n:032d}",
                status="processing" if rng.random() < NOT_READY_SHARE else "ready",
                page_count=1,
            )
            for n in range((size + PER_DOCUMENT - 1) // PER_DOCUMENT)
        )
        picks = rng.integers(0, len(texts), (size, MIX))
        weights = rng.uniform(0.3, 1.0, (size, MIX, 1)).astype(np.float32)
        noise = rng.standard_normal((size, pool.shape[1])).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        vectors = (pool[picks] * weights).sum(axis=1) + NOISE * noise
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for j in range(size):
            text = " ".join(w for p in picks[j] for w in words[p][: WORDS // MIX])
            batch.append((documents[j // PER_DOCUMENT].pk, corpus.pk, j % PER_DOCUMENT, text,
                          vectors[j]))  # fmt: skip
            if len(batch) == 50_000:
                flush()
        loaded += size
        if corpus.pk % 20 == 0 or size > 10_000:
            print(f"  {loaded}/{args.chunks} chunks in {time.perf_counter() - started:.0f} s",
                  flush=True)  # fmt: skip
    if batch:
        flush()
    timings["load (COPY + tsvectors + BM25 statistics)"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_scale_staging")
        cursor.execute("SET maintenance_work_mem = '4GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        started = time.perf_counter()
        cursor.execute(
            "CREATE INDEX chunk_corpus_search_gin ON documents_chunk "
            "USING gin (corpus_id, index_version, search_vector)"
        )
        timings["GIN build"] = time.perf_counter() - started
        print(f"GIN built in {timings['GIN build']:.0f} s", flush=True)
        started = time.perf_counter()
        cursor.execute(hnsw_index_sql(384))
        timings["HNSW build (global)"] = time.perf_counter() - started
        print(f"HNSW built in {timings['HNSW build (global)']:.0f} s", flush=True)
        cursor.execute("VACUUM ANALYZE documents_chunk")
        cursor.execute("ANALYZE documents_document")
    return timings


def partial_indexes(min_chunks: int) -> tuple[list[str], float]:
    """A partial HNSW index per corpus of at least `min_chunks` chunks (same expression and
    operator class as the global one, so the production SQL can use either)."""
    from django.db import connection

    from documents.backends.pgvector_sql import vector_expression

    names = []
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT corpus_id FROM documents_indexstats WHERE chunks >= %s ORDER BY corpus_id",
            [min_chunks],
        )
        corpus_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("SET maintenance_work_mem = '4GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        for corpus_id in corpus_ids:
            name = f"bench_chunk_hnsw_384_c{int(corpus_id)}"
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON documents_chunk USING hnsw "
                f"({vector_expression(384)} vector_cosine_ops) "
                f"WHERE vector_dims(embedding) = 384 AND corpus_id = {int(corpus_id)}"
            )
            names.append(name)
        cursor.execute("ANALYZE documents_chunk")
    return names, time.perf_counter() - started


def drop_partial_indexes() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'documents_chunk' "
            "AND indexname LIKE 'bench\\_chunk\\_hnsw\\_384\\_c%%'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')


def exact_top(corpus_id: int, query_vectors: np.ndarray, k: int = 10) -> list[list[int]]:
    """Exact top k by cosine over the corpus's ready chunks, as stored in the database."""
    from django.db import connection
    from pgvector.psycopg import register_vector

    connection.ensure_connection()
    register_vector(connection.connection)
    with connection.connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, c.embedding FROM documents_chunk c JOIN documents_document d "
            "ON d.id = c.document_id AND d.status = 'ready' WHERE c.corpus_id = %s",
            [corpus_id],
        )
        rows = cursor.fetchall()
    ids = np.array([row[0] for row in rows])
    matrix = np.stack(
        [
            np.asarray(getattr(row[1], "to_numpy", lambda v=row[1]: v)(), dtype=np.float32)
            for row in rows
        ]
    )
    scores = query_vectors @ matrix.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    return [ids[row].tolist() for row in top]


def measure(corpora: dict, questions: list[str], query_vectors: np.ndarray) -> dict[str, dict]:
    from django.db import connection

    from documents.backends.base import get_backend
    from documents.backends.embeddings import embed_query
    from documents.retrieval import retrieve

    backend = get_backend("pgvector")
    out = {}
    for label, corpus in corpora.items():
        for i in range(min(20, len(questions))):  # warm up
            backend.search_by_vector(corpus=corpus, query=questions[i], vector=query_vectors[i],
                                     k=10, mode="hybrid")  # fmt: skip
        times = []
        for i in range(len(questions)):
            started = time.perf_counter()
            backend.search_by_vector(corpus=corpus, query=questions[i], vector=query_vectors[i],
                                     k=10, mode="hybrid")  # fmt: skip
            times.append((time.perf_counter() - started) * 1000)
        # The whole retrieval pipeline as answers run it (search, then the configured stages:
        # neighbour expansion and the relevance score by default), the question's vector
        # already in embed_query's cache so that, as above, embedding is not timed.
        for question in questions:
            embed_query(corpus.embedding_model, question)
        staged = []
        for question in questions:
            started = time.perf_counter()
            retrieve(corpus=corpus, query=question, k=10)
            staged.append((time.perf_counter() - started) * 1000)
        exact = exact_top(corpus.pk, query_vectors)
        recalls = []
        for i in range(len(questions)):
            hits = backend.search_by_vector(
                corpus=corpus, query=questions[i], vector=query_vectors[i], k=10, mode="vector"
            )
            recalls.append(len({h.chunk_id for h in hits} & set(exact[i])) / 10)
        from documents.backends.pgvector_sql import search_sql

        sql, params = search_sql(
            corpus_id=corpus.pk, index_version=corpus.index_version, dims=384,
            text_search_config="english", query=questions[0], vector=query_vectors[0], k=10,
            candidates=40, mode="hybrid",
        )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SET LOCAL hnsw.ef_search = 100; "
                           "SET LOCAL hnsw.iterative_scan = relaxed_order")  # fmt: skip
            cursor.execute("EXPLAIN (COSTS OFF) " + sql, params)
            plan = [r[0].strip() for r in cursor.fetchall()]
            cursor.execute("COMMIT")
        scans = sorted({line.split(" on ")[0].split("using ")[-1] + " on " +
                        line.split(" on ")[-1].split()[0]
                        for line in plan if "Scan" in line and " on " in line})  # fmt: skip
        size = corpus.chunk_total
        out[label] = {
            "chunks": size,
            "p50": median(times),
            "p95": percentile(times, 95),
            "staged_p50": median(staged),
            "staged_p95": percentile(staged, 95),
            "recall": sum(recalls) / len(recalls),
            "min_recall": min(recalls),
            "scans": scans,
        }
        print(f"  {label} ({size} chunks): p50 {out[label]['p50']:.1f} ms, "
              f"p95 {out[label]['p95']:.1f} ms, recall@10 {out[label]['recall']:.3f} "
              f"(min {out[label]['min_recall']:.1f}); with the retrieval stages: p50 "
              f"{out[label]['staged_p50']:.1f} ms, p95 {out[label]['staged_p95']:.1f} ms",
              flush=True)  # fmt: skip
        for scan in scans:
            print(f"      {scan}")
    return out


def memory_report() -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid)) "
            "FROM pg_stat_user_indexes WHERE relname = 'documents_chunk' ORDER BY 1"
        )
        sizes = dict(cursor.fetchall())
        cursor.execute("SELECT pg_size_pretty(pg_table_size('documents_chunk')), "
                       "pg_size_pretty(pg_database_size(current_database())), "
                       "current_setting('shared_buffers'), pg_backend_pid()")  # fmt: skip
        table, database, shared_buffers, pid = cursor.fetchone()
    sizes["table documents_chunk (with TOAST)"] = table
    sizes["database"] = database
    sizes["shared_buffers"] = shared_buffers
    try:
        import psutil

        rss = psutil.Process(pid).memory_full_info()
        sizes["search backend process (RSS / USS)"] = (
            f"{rss.rss / 2**20:.0f} MB / {rss.uss / 2**20:.0f} MB"
        )
    except Exception as error:  # another user's server process
        sizes["search backend process"] = f"not readable ({error.__class__.__name__})"
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--corpora", type=int, default=200)
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--partial-min", type=int, default=0,
                        help="also measure with per-corpus partial HNSW indexes for corpora "
                             "of at least this many chunks (0: not)")  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("LOCAL_DATABASE_NAME", "docent_bench_scale")
    django_setup()
    from django.db.models import Count

    from documents.backends.embeddings import get_embedder
    from documents.models import Corpus

    print(f"load average at start: {os.getloadavg()}", flush=True)
    texts = pool_passages(args.pool)
    pool = pool_vectors(texts)
    timings = load(args, texts, pool)
    for name, seconds in timings.items():
        print(f"{name}: {seconds:.0f} s")

    questions = [json.loads(line)["text"]
                 for line in (SHARED_DATA / "beir-scifact" / "queries.jsonl").open()]  # fmt: skip
    questions = questions[: args.queries]
    cached = CACHE / f"scale-queries-{len(questions)}.npy"
    if cached.exists():
        query_vectors = np.load(cached)
    else:
        embedder = get_embedder("all-MiniLM-L6-v2")
        query_vectors = np.stack([embedder.embed_query(q) for q in questions]).astype(np.float32)
        np.save(cached, query_vectors)

    corpora = list(
        Corpus.objects.filter(slug__startswith=PREFIX)
        .annotate(chunk_total=Count("documents__chunks"))
        .order_by("pk")
    )
    target_small = 0.002 * args.chunks
    chosen = {
        "large": corpora[0],
        "medium": corpora[3],
        "small": min(corpora[4:], key=lambda c: abs(c.chunk_total - target_small)),
    }
    drop_partial_indexes()  # a run's partial indexes would otherwise serve the next "global" pass
    print(f"\nglobal HNSW index with iterative scans (production), load average "
          f"{os.getloadavg()[0]:.2f}:", flush=True)  # fmt: skip
    results = {"global HNSW + iterative scan": measure(chosen, questions, query_vectors)}
    if args.partial_min:
        names, seconds = partial_indexes(args.partial_min)
        print(f"\n{len(names)} partial HNSW indexes (corpora >= {args.partial_min} chunks) "
              f"built in {seconds:.0f} s; load average {os.getloadavg()[0]:.2f}:",
              flush=True)  # fmt: skip
        results["+ partial HNSW per large corpus"] = measure(chosen, questions, query_vectors)
    print("\nsizes and memory:")
    for name, value in memory_report().items():
        print(f"  {name}: {value}")
    drop_partial_indexes()
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

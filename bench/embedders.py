"""Local embedders side by side: passages/s and SciFact nDCG@10 of torch, ONNX fp32 and ONNX int8.

    .venv/bin/python bench/embedders.py [--threads 2] [--passages N] [--models a,b,c]

Every model embeds the same SciFact abstracts ("title\\n\\ntext", read up to the model's
256-token window) in the same run, through the embedders Docent uses (get_embedder). The
passages go in rounds of --round; within a round each model embeds the same passages, in an
order that rotates from round to round, so a change in the machine's load lands on every
model alike: on a shared machine the ratios to torch are the figures to trust. The load
average is printed before and after. All models use --threads (LOCAL_EMBEDDING_THREADS).

nDCG@10 is computed in memory, one vector per abstract, exact cosine ranking of the 300 test
queries: it compares embedders without PostgreSQL, chunking or HNSW (bench/scifact.py measures
the full search path). The whole corpus is the default; with --passages N below 5,183 the
corpus is every abstract judged for a test query plus the first others up to N: an easier
ranking than the whole corpus (higher nDCG), the same for every model. The "torch index"
column ranks torch's abstract vectors with the model's query vectors: whether a corpus
embedded by torch could switch to that model without re-embedding. The ONNX builds are made
first if the cache has none (timed apart).
SciFact is CC BY-NC: it is read from ../shared/data at run time, never copied into the repo.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from _common import ndcg_at_k, scifact_load
from _setup import ROOT, SHARED_DATA

TORCH = "all-MiniLM-L6-v2"
MODELS = (TORCH, "all-MiniLM-L6-v2-onnx", "all-MiniLM-L6-v2-onnx-int8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--passages", type=int, default=0, help="0 = the whole corpus")
    parser.add_argument("--round", type=int, default=128, help="passages per timed round")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--data", default=str(SHARED_DATA / "beir-scifact"))
    args = parser.parse_args()
    os.environ["LOCAL_EMBEDDING_THREADS"] = str(args.threads)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("SECRET_KEY", "bench-embedders-only")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()  # no database: everything below is in memory
    from documents.backends.embeddings import get_embedder

    models = args.models.split(",")
    if TORCH not in models:
        raise SystemExit(f"--models must include {TORCH}: the ratios are to it")
    docs, queries, qrels = scifact_load(Path(args.data))
    full = not args.passages or args.passages >= len(docs)
    if not full:
        # Every abstract a test query is judged against, then others up to --passages: the
        # ranking is easier than over the whole corpus, but the same for every model.
        judged = {doc_id for relevant in qrels.values() for doc_id in relevant}
        others = [doc for doc in docs if doc["_id"] not in judged]
        wanted = judged | {doc["_id"] for doc in others[: max(0, args.passages - len(judged))]}
        docs = [doc for doc in docs if doc["_id"] in wanted]
    texts = [f"{doc['title']}\n\n{doc['text']}" for doc in docs]
    embedders = {alias: get_embedder(alias) for alias in models}
    print(
        f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}, cpus: "
        f"{os.cpu_count()}, threads per model: {args.threads}"
    )
    for alias, embedder in embedders.items():
        started = time.perf_counter()
        embedder.embed(texts[:4])  # loads the model; builds ONNX if the cache has none
        print(f"{alias}: first use {time.perf_counter() - started:.1f} s")

    seconds = dict.fromkeys(models, 0.0)
    vectors: dict[str, list[np.ndarray]] = {alias: [] for alias in models}
    rounds = range(0, len(texts), args.round)
    for number, start in enumerate(rounds):
        batch = texts[start : start + args.round]
        shift = number % len(models)
        for alias in models[shift:] + models[:shift]:
            began = time.perf_counter()
            vectors[alias].append(embedders[alias].embed(batch).vectors)
            seconds[alias] += time.perf_counter() - began
        if number % 10 == 9:
            print(f"  {start + len(batch)}/{len(texts)} passages", flush=True)
    doc_vectors = {alias: np.vstack(rows) for alias, rows in vectors.items()}
    print(f"load average after:  {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    query_ids = list(queries)
    query_vectors = {
        alias: np.vstack([embedders[alias].embed_query(queries[qid]) for qid in query_ids])
        for alias in models
    }
    doc_ids = [doc["_id"] for doc in docs]

    def ndcg(queries_by: str, docs_by: str) -> float:
        scores = query_vectors[queries_by] @ doc_vectors[docs_by].T
        top = np.argsort(-scores, axis=1)[:, :10]
        return float(
            np.mean(
                [
                    ndcg_at_k([doc_ids[i] for i in row], qrels[qid])
                    for qid, row in zip(query_ids, top, strict=True)
                ]
            )
        )

    reference = doc_vectors[TORCH]
    print()
    scope = "the whole corpus" if full else "judged abstracts plus others (a sub-corpus)"
    print(
        f"{len(texts)} SciFact abstracts, {scope}; {len(query_ids)} test queries; "
        f"{args.threads} threads per model"
    )
    print()
    print(
        "| embedder | passages/s | vs torch | cosine to torch (min / mean) | nDCG@10 |"
        " nDCG@10, torch index |"
    )
    print("|---|---|---|---|---|---|")
    for alias in models:
        rate = len(texts) / seconds[alias]
        cosine = np.sum(doc_vectors[alias] * reference, axis=1)
        own = f"{ndcg(alias, alias):.4f}"
        mixed = f"{ndcg(alias, TORCH):.4f}" if alias != TORCH else "-"
        print(
            f"| {alias} | {rate:.1f} | {seconds[TORCH] / seconds[alias]:.2f}x | "
            f"{cosine.min():.4f} / {cosine.mean():.4f} | {own} | {mixed} |"
        )
    for alias, embedder in embedders.items():
        if getattr(embedder, "fallback", None) is not None:
            print(f"WARNING: {alias} fell back to torch during the run; its figures are torch's")


if __name__ == "__main__":
    main()

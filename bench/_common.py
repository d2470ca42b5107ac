"""What more than one benchmark needs once Django is set up: a database per benchmark, a corpus
ingested through the worker's own services (kept between runs), SciFact and nDCG."""

from __future__ import annotations

import io
import json
import math
import time
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import numpy as np

    from documents.models import Corpus


def use_database(name: str) -> None:
    """Point Django's default connection at database `name` on the same server, created and
    migrated if needed, the way Django's test runner switches to its test database."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from psycopg import sql

    if connection.settings_dict["NAME"] != name:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        connection.close()
        settings.DATABASES["default"]["NAME"] = name
        connection.settings_dict["NAME"] = name
    call_command("migrate", verbosity=0)


def corpus_ensure(
    *,
    slug: str,
    name: str,
    files: Sequence[tuple[str, bytes | Path]],
    reingest: bool = False,
    progress_every: int = 500,
    embedding_model: str | None = None,
) -> Corpus:
    """The corpus `slug` holding `files` (name, content or path), each uploaded and ingested by
    the services the web UI and the worker use. Files already ready are kept, so a rerun embeds
    nothing again; `reingest` starts from an empty corpus. `embedding_model` (an alias of
    settings.EMBEDDING_MODELS, the default model if None) is the new corpus's; a kept corpus
    with another model is an error, not silently measured with the wrong one."""
    from documents import services
    from documents.models import Corpus, Document, DocumentStatus

    corpus = Corpus.objects.filter(slug=slug).first()
    if corpus is not None and reingest:
        services.corpus_delete(corpus=corpus)
        corpus = None
    if corpus is None:
        corpus = services.corpus_create(name=name, slug=slug, embedding_model=embedding_model)
    elif embedding_model and corpus.embedding_model != embedding_model:
        raise SystemExit(
            f"{slug}: the kept corpus is embedded with {corpus.embedding_model}, not "
            f"{embedding_model}; use another database or --reingest."
        )
    ready = set(
        Document.objects.filter(corpus=corpus, status=DocumentStatus.READY).values_list(
            "filename", flat=True
        )
    )
    missing = [(filename, content) for filename, content in files if filename not in ready]
    if not missing:
        return corpus
    print(f"{slug}: ingesting {len(missing)} files (once; kept for later runs)", flush=True)
    started = time.perf_counter()
    failed: list[str] = []
    for i, (filename, content) in enumerate(missing, start=1):
        data = content if isinstance(content, bytes) else content.read_bytes()
        outcome = services.document_upload(corpus=corpus, file=io.BytesIO(data), filename=filename)
        if outcome.document.status != DocumentStatus.READY:
            services.document_ingest(document_id=outcome.document.pk)
            outcome.document.refresh_from_db()
        if outcome.document.status != DocumentStatus.READY:
            failed.append(f"{filename}: {outcome.document.error or outcome.document.status}")
        if i % progress_every == 0:
            print(f"  {i}/{len(missing)} in {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        raise SystemExit(f"{slug}: {len(failed)} files were not ingested:\n" + "\n".join(failed))
    return corpus


def scifact_load(
    data_dir: Path,
) -> tuple[list[dict[str, str]], dict[str, str], dict[str, dict[str, int]]]:
    """BEIR SciFact: the abstracts, the test queries and their qrels (query id -> doc id ->
    grade). SciFact is CC BY-NC: it is read from ../shared/data at run time, never copied."""
    with (data_dir / "corpus.jsonl").open() as handle:
        corpus = [json.loads(line) for line in handle]
    with (data_dir / "queries.jsonl").open() as handle:
        queries = {q["_id"]: q["text"] for q in map(json.loads, handle)}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (data_dir / "qrels-test.tsv").open() as handle:
        for line in list(handle)[1:]:
            query_id, doc_id, score = line.split()
            qrels[query_id][doc_id] = int(score)
    return corpus, {qid: queries[qid] for qid in qrels}, dict(qrels)


def scifact_files(docs: Sequence[dict[str, str]]) -> list[tuple[str, bytes]]:
    """One plain-text document per abstract, named after its BEIR id."""
    return [(f"{doc['_id']}.txt", f"{doc['title']}\n\n{doc['text']}".encode()) for doc in docs]


def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], *, k: int = 10) -> float:
    """nDCG@k with graded gains 2^rel - 1 (BEIR's definition; equal to rel for binary qrels)."""
    dcg = sum(
        (2 ** relevant.get(doc, 0) - 1) / math.log2(i + 2) for i, doc in enumerate(ranked[:k])
    )
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2**rel - 1) / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def passage_vectors(texts: Sequence[str], cache: Path, *, batch: int = 2048) -> np.ndarray:
    """all-MiniLM-L6-v2 vectors of benchmark passages (at most 128 tokens each), computed once
    and kept in `cache` (a .npy file) for later runs."""
    import numpy as np

    if cache.exists():
        return np.load(cache)
    from documents.backends.embeddings import get_embedder

    embedder = get_embedder("all-MiniLM-L6-v2")
    model = embedder._load()
    model.max_seq_length = 128
    started = time.perf_counter()
    parts = []
    try:
        for i in range(0, len(texts), batch):
            parts.append(embedder.embed(list(texts[i : i + batch])).vectors)
            print(f"  embedded {min(i + batch, len(texts))}/{len(texts)} "
                  f"in {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    finally:
        model.max_seq_length = 256
    vectors = np.concatenate(parts).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors

"""A drop of many documents through real Celery workers: documents/min, chunks/s and the time
until the first document is searchable, with 1 and 2 workers, on the filesystem broker and on
Redis.

    .venv/bin/python bench/ingest_drop.py [--small 2000] [--large 20] [--workers 1 2]
                                          [--brokers filesystem redis] [--mixed|--mixed-only]

Small documents: the first N SciFact abstracts (../shared/data/beir-scifact/corpus.jsonl), one
Markdown file each. Large documents: the first N of the 20 SEC 10-Q PDFs
(../shared/data/rag-qa/docugami-sec-10q, 28-80 pages each), which go to the large-documents
queue. Each drop is uploaded by this process through the services the web UI uses, while the
workers (each `--concurrency=1`, listening on every queue, already warmed up on one document
so that the embedding model is loaded) ingest; a worker per CPU core is the most this 2-core
machine can use. Times run from the first upload: "first searchable" is when the first
document became ready (search only returns ready documents), documents/min and chunks/s are
over the time until the last one was done. `--mixed` also runs the large PDFs and then the
small files with one worker per queue and reports how soon the small ones were ready.
Redis: TEST_REDIS_URL or redis://localhost:6379/0, keys under a prefix deleted afterwards.
Database: docent_bench_drop on the local server.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _setup import ROOT, SHARED_DATA, django_setup

DATABASE = "docent_bench_drop"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://localhost:6379/0")
QUEUES = "celery,large,housekeeping"


def small_files(count: int) -> list[tuple[str, bytes]]:
    files = []
    with (SHARED_DATA / "beir-scifact" / "corpus.jsonl").open() as lines:
        for line in lines:
            if len(files) == count:
                break
            doc = json.loads(line)
            text = f"# {doc['title']}\n\n{doc['text']}\n"
            files.append((f"scifact-{doc['_id']}.md", text.encode()))
    return files


def large_files(count: int) -> list[tuple[str, bytes]]:
    paths = sorted((SHARED_DATA / "rag-qa" / "docugami-sec-10q" / "docs").glob("*.pdf"))
    return [(path.name, path.read_bytes()) for path in paths[:count]]


def broker_env(name: str, folder: Path) -> dict[str, str]:
    if name == "filesystem":
        return {"CELERY_BROKER_URL": "filesystem://", "CELERY_BROKER_DIR": str(folder)}
    return {
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_BROKER_KEY_PREFIX": f"docent-bench-{uuid.uuid4().hex[:8]}:",
    }


def start_workers(env: dict[str, str], queues: list[str], log: Path) -> list[subprocess.Popen]:
    workers = []
    for i, queue in enumerate(queues):
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency=1",
                   "--loglevel=WARNING", "--without-gossip", "--without-mingle", "-Q", queue,
                   "-n", f"bench{i}@%h"]  # fmt: skip
        with log.open("a") as out:
            workers.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()


def wait_settled(corpus, *, count: int, timeout: float) -> None:
    from documents.models import Document

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = Document.objects.filter(corpus=corpus, status__in=["ready", "failed"]).count()
        if done >= count:
            return
        time.sleep(0.5)
    raise SystemExit(f"timed out: {done} of {count} documents done")


def drop(*, slug: str, files: list[tuple[str, bytes]], timeout: float) -> dict[str, float]:
    """Upload `files` to a fresh corpus as fast as this process can and wait for the workers."""
    from django.db.models import Max, Min, Sum
    from django.utils import timezone

    from documents import services
    from documents.models import Corpus, Document

    existing = Corpus.objects.filter(slug=slug).first()
    if existing:
        services.corpus_delete(corpus=existing)
    corpus = services.corpus_create(name=slug, slug=slug)
    started = timezone.now()
    for filename, data in files:
        services.document_upload(corpus=corpus, file=io.BytesIO(data), filename=filename)
    uploaded = (timezone.now() - started).total_seconds()
    wait_settled(corpus, count=len(files), timeout=timeout)
    documents = Document.objects.filter(corpus=corpus)
    ready = documents.filter(status="ready")
    figures = ready.aggregate(
        first=Min("finished_at"), last=Max("finished_at"), chunks=Sum("chunk_count")
    )
    elapsed = (figures["last"] - started).total_seconds()
    result = {
        "embedder": corpus.embedding_model,
        "documents": len(files),
        "failed": documents.filter(status="failed").count(),
        "large": documents.filter(large=True).count(),
        "chunks": figures["chunks"] or 0,
        "upload_s": uploaded,
        "first_searchable_s": (figures["first"] - started).total_seconds(),
        "elapsed_s": elapsed,
        "docs_per_min": ready.count() / elapsed * 60,
        "chunks_per_s": (figures["chunks"] or 0) / elapsed,
    }
    services.corpus_delete(corpus=corpus)
    return result


def warm_up(*, workers: int, timeout: float) -> None:
    """One document per worker, so that each has loaded the embedding model before the drop
    (with prefetch 1, two idle workers take one each)."""
    files = [(f"warm-{i}.md", f"# Warm up {i}\n\nLoads the model, number {i}.\n".encode())
             for i in range(workers)]  # fmt: skip
    drop(slug="bench-drop-warm", files=files, timeout=timeout)


def run_one(args: argparse.Namespace) -> None:
    """One broker and worker count, in a process whose Celery app uses that broker."""
    os.environ["LOCAL_DATABASE_NAME"] = DATABASE
    django_setup()
    env = {**os.environ, "LOG_LEVEL": "WARNING"}  # the workers find the same local server
    log = Path(args.log)
    results = {}
    if args.workers_queues:
        workers = start_workers(env, args.workers_queues.split(" "), log)
    else:
        workers = start_workers(env, [QUEUES] * args.one_workers, log)
    try:
        warm_up(workers=len(workers), timeout=600)
        if args.mixed_run:
            results["mixed"] = mixed(small=small_files(args.small), large=large_files(args.large))
        else:
            if args.small:
                results["small"] = drop(
                    slug="bench-drop-small", files=small_files(args.small), timeout=7200
                )
            if args.large:
                results["large"] = drop(
                    slug="bench-drop-large", files=large_files(args.large), timeout=7200
                )
    finally:
        stop_workers(workers)
    print("RESULT " + json.dumps(results), flush=True)


def mixed(*, small: list[tuple[str, bytes]], large: list[tuple[str, bytes]]) -> dict[str, float]:
    """The large PDFs, then the small files, into one corpus, with one worker per queue."""
    from django.db.models import Max, Min
    from django.utils import timezone

    from documents import services
    from documents.models import Corpus, Document

    existing = Corpus.objects.filter(slug="bench-drop-mixed").first()
    if existing:
        services.corpus_delete(corpus=existing)
    corpus = services.corpus_create(name="mixed", slug="bench-drop-mixed")
    started = timezone.now()
    for filename, data in [*large, *small]:
        services.document_upload(corpus=corpus, file=io.BytesIO(data), filename=filename)
    wait_settled(corpus, count=len(large) + len(small), timeout=7200)
    documents = Document.objects.filter(corpus=corpus, status="ready")
    smalls = documents.filter(large=False).aggregate(
        first=Min("finished_at"), last=Max("finished_at")
    )
    larges = documents.filter(large=True).aggregate(
        first=Min("finished_at"), last=Max("finished_at")
    )
    result = {
        "small_first_searchable_s": (smalls["first"] - started).total_seconds(),
        "small_all_done_s": (smalls["last"] - started).total_seconds(),
        "large_first_done_s": (larges["first"] - started).total_seconds(),
        "large_all_done_s": (larges["last"] - started).total_seconds(),
    }
    services.corpus_delete(corpus=corpus)
    return result


def _delete_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--brokers", nargs="+", default=["filesystem", "redis"])
    parser.add_argument("--mixed", action="store_true", help="Also the large-then-small drop.")
    parser.add_argument("--mixed-only", action="store_true", help="Only that drop.")
    # Internal: one configuration, run in a child process.
    parser.add_argument("--one-workers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workers-queues", help=argparse.SUPPRESS)
    parser.add_argument("--mixed-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_workers or args.workers_queues:
        run_one(args)
        return

    runs = [(broker, workers, None) for broker in args.brokers for workers in args.workers]
    if args.mixed_only:
        runs = []
    if args.mixed or args.mixed_only:
        runs += [(broker, 2, "celery,housekeeping large") for broker in args.brokers]
    print(f"drop: {args.small} small documents (SciFact abstracts), {args.large} large PDFs")
    print(f"machine load before: {os.getloadavg()[0]:.1f} (1 min average, {os.cpu_count()} cores)")
    print("| broker | workers | drop | documents | chunks | first searchable | all done "
          "| documents/min | chunks/s |")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for broker, workers, queues in runs:
        with tempfile.TemporaryDirectory(prefix="docent-drop-") as folder:
            env = {**os.environ, **broker_env(broker, Path(folder) / "broker")}
            log = Path(folder) / "workers.log"
            command = [sys.executable, __file__, "--small", str(args.small),
                       "--large", str(args.large), "--log", str(log)]  # fmt: skip
            command += (
                ["--workers-queues", queues, "--mixed-run"]
                if queues
                else ["--one-workers", str(workers)]
            )
            outcome = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            lines = [line for line in outcome.stdout.splitlines() if line.startswith("RESULT ")]
            if outcome.returncode or not lines:
                print(
                    f"{broker} x{workers} failed:\n{outcome.stdout[-3000:]}{outcome.stderr[-3000:]}"
                )
                if log.exists():
                    print(log.read_text()[-3000:])
                continue
            results = json.loads(lines[-1][len("RESULT ") :])
        if broker == "redis":
            _delete_keys(env["CELERY_BROKER_KEY_PREFIX"])
        if queues:
            r = results["mixed"]
            small = (
                f"first {r['small_first_searchable_s']:.1f} s, all {r['small_all_done_s']:.1f} s"
            )
            large = f"first {r['large_first_done_s']:.1f} s, all {r['large_all_done_s']:.1f} s"
            print(f"| {broker} | 1 per queue | {args.large} large, then {args.small} small | | "
                  f"| small: {small} | large: {large} | | |")  # fmt: skip
            continue
        for kind in ("small", "large"):
            if kind not in results:
                continue
            r = results[kind]
            print(f"<!-- {broker} x{workers} {kind}: embedder {r['embedder']}, "
                  f"{r['large']} on the large queue, upload {r['upload_s']:.1f} s -->")  # fmt: skip
            failed = f" ({r['failed']} failed)" if r["failed"] else ""
            first, done = r["first_searchable_s"], r["elapsed_s"]
            print(f"| {broker} | {workers} | {kind} | {r['documents']}{failed} | {r['chunks']} "
                  f"| {first:.1f} s | {done:.1f} s | {r['docs_per_min']:.1f} "
                  f"| {r['chunks_per_s']:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

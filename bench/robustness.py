"""Run every test document through the real ingestion pipeline and write the outcome table.

    .venv/bin/python bench/robustness.py [--out docs/ingestion-report.md] [--only SUBSTRING]

Each file of ../shared/data/docs is uploaded into a fresh corpus and ingested by the same
service the Celery worker runs (parse, page map, chunking, local embeddings, index). The
table records file, status, pages, chunks, seconds and the reason or warning users see.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from _setup import ROOT, SHARED_DATA, django_setup

SLUG = "bench-robustness"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "ingestion-report.md"))
    parser.add_argument("--only", default="", help="Only files whose path contains this.")
    args = parser.parse_args()
    django_setup()
    from django.core.exceptions import ValidationError

    from documents import services
    from documents.models import Corpus, Document

    docs_dir = SHARED_DATA / "docs"
    files = sorted(
        p
        for p in docs_dir.rglob("*")
        if p.is_file()
        and "LICENSES" not in p.parts
        and p.name not in ("MANIFEST.tsv",)
        and not p.name.endswith("README.md")
        and args.only in str(p)
    )
    existing = Corpus.objects.filter(slug=SLUG).first()
    if existing:
        services.corpus_delete(corpus=existing)
    corpus = services.corpus_create(name="Robustness run", slug=SLUG)

    rows = []
    outcomes: Counter[str] = Counter()
    total = 0.0
    for index, path in enumerate(files, start=1):
        relative = path.relative_to(docs_dir)
        started = time.perf_counter()
        try:
            outcome = services.document_upload_path(corpus=corpus, path=path)
        except ValidationError as error:  # refused at upload, with the message the form shows
            rows.append(
                (str(relative), "rejected", "", "", "", _one_line(" ".join(error.messages)))
            )
            outcomes["rejected"] += 1
            continue
        document = outcome.document
        if outcome.duplicate:
            note = f"duplicate of {document.filename}; not ingested again"
            rows.append((str(relative), "duplicate", "", "", "", note))
            outcomes["duplicate"] += 1
            continue
        services.document_ingest(document_id=document.pk)
        document = Document.objects.get(pk=document.pk)
        seconds = time.perf_counter() - started
        total += seconds
        reason = document.error or document.warning
        rows.append(
            (
                str(relative),
                document.status,
                str(document.page_count or ""),
                str(document.chunk_count or ""),
                f"{seconds:.1f}",
                _one_line(reason),
            )
        )
        outcomes[document.status] += 1
        print(f"[{index}/{len(files)}] {relative}: {document.status} ({seconds:.1f} s)", flush=True)

    from django.conf import settings

    lines = [
        "# Ingestion outcomes for the shared test documents",
        "",
        f"Every file of `../shared/data/docs/` ({len(files)} files) through the real pipeline "
        f"(upload, parse, OCR of scanned pages with {settings.OCR_ENGINE} at {settings.OCR_DPI} "
        "DPI, page map, chunking, all-MiniLM-L6-v2 embeddings, pgvector index), "
        "produced by `.venv/bin/python bench/robustness.py`. Totals: "
        + ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items()))
        + f"; {total / 60:.1f} minutes of processing summed over the files on a 2-core machine "
        "(seconds vary with what else the machine runs).",
        "",
        "Reasons and warnings are the sentences users see.",
        "",
        "| file | status | pages | chunks | seconds | reason or warning |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"\n{dict(outcomes)} in {total:.0f} s -> {args.out}")
    services.corpus_delete(corpus=corpus)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    main()

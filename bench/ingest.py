"""Ingestion throughput: the whole pipeline beside raw embedding of the same chunks.

    .venv/bin/python bench/ingest.py [--files N]

Pipeline = upload (checksum, storage) + the worker's `document_ingest` (parse, page map,
chunking, embedding, writing chunks and tsvectors), run in this process on a fresh corpus.
Raw = the same chunk texts embedded by the same model with the same batch sizes and nothing
else. Both run in this process after the model is loaded; the ratio is pipeline / raw.
Documents: the first N (default 4) SEC 10-Q filings of ../shared/data/rag-qa/docugami-sec-10q.
OCR: then the scanned PDFs of ../shared/data/docs/pdf-scanned-no-text, timed by the "ocr" stage
the ingestion records, as seconds per page read by OCR (`--no-ocr` skips it).
"""

from __future__ import annotations

import argparse
import time

from _setup import SHARED_DATA, django_setup

SLUG = "bench-ingest"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--no-ocr", action="store_true", help="Skip the OCR measurement.")
    args = parser.parse_args()
    django_setup()
    from documents import services
    from documents.backends.embeddings import get_embedder
    from documents.models import Chunk, Corpus, Document

    files = sorted((SHARED_DATA / "rag-qa" / "docugami-sec-10q" / "docs").glob("*.pdf"))
    files = files[: args.files]
    existing = Corpus.objects.filter(slug=SLUG).first()
    if existing:
        services.corpus_delete(corpus=existing)
    corpus = services.corpus_create(name="Ingestion benchmark", slug=SLUG)
    embedder = get_embedder(corpus.embedding_model)
    embedder.embed(["warm up the model"])

    started = time.perf_counter()
    for path in files:
        outcome = services.document_upload_path(corpus=corpus, path=path)
        services.document_ingest(document_id=outcome.document.pk)
    pipeline_seconds = time.perf_counter() - started

    documents = Document.objects.filter(corpus=corpus)
    failed = [d.filename for d in documents if d.status != "ready"]
    if failed:
        raise SystemExit(f"documents failed: {failed}")
    chunk_count = Chunk.objects.filter(corpus=corpus).count()
    batch = max(embedder.batch_size * 4, 64)  # what PgvectorBackend passes per embed() call
    started = time.perf_counter()
    for document_id in documents.values_list("pk", flat=True):
        doc_texts = list(
            Chunk.objects.filter(document_id=document_id)
            .order_by("ordinal")
            .values_list("text", flat=True)
        )
        for i in range(0, len(doc_texts), batch):
            embedder.embed(doc_texts[i : i + batch])
    raw_seconds = time.perf_counter() - started

    pages = sum(d.page_count or 0 for d in documents)
    stages: dict[str, float] = {}
    for document in documents:
        for stage, seconds in document.timings.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    pipeline_rate = chunk_count / pipeline_seconds
    raw_rate = chunk_count / raw_seconds
    print(f"documents: {len(files)} PDFs, {pages} pages, {chunk_count} chunks")
    print(
        "stage seconds (sum over documents): "
        + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
    )
    print(f"pipeline: {pipeline_seconds:.1f} s, {pipeline_rate:.1f} chunks/s")
    print(f"raw embedding of the same chunks: {raw_seconds:.1f} s, {raw_rate:.1f} chunks/s")
    print(f"pipeline / raw throughput: {pipeline_rate / raw_rate:.1%} (target >= 85%)")
    services.corpus_delete(corpus=corpus)
    if not args.no_ocr:
        _ocr_benchmark()


def _ocr_benchmark() -> None:
    from django.conf import settings

    from documents import services
    from documents.models import Corpus, Document, Page

    files = sorted((SHARED_DATA / "docs" / "pdf-scanned-no-text").glob("*.pdf"))
    existing = Corpus.objects.filter(slug=f"{SLUG}-ocr").first()
    if existing:
        services.corpus_delete(corpus=existing)
    corpus = services.corpus_create(name="OCR benchmark", slug=f"{SLUG}-ocr")
    for path in files:
        outcome = services.document_upload_path(corpus=corpus, path=path)
        services.document_ingest(document_id=outcome.document.pk)
    documents = Document.objects.filter(corpus=corpus)
    ocr_seconds = sum(d.timings.get("ocr", 0.0) for d in documents)
    pages = Page.objects.filter(document__corpus=corpus, document__status="ready")
    read = sum(1 for page in pages if page.ocr)
    # Pages OCR looked at, with or without finding text: each costs a render and a pass.
    # Failed documents record no timings, so only ready ones are counted.
    looked_at = sum(1 for page in pages if page.ocr or len(page.text.strip()) < 10)
    ready = sum(1 for d in documents if d.status == "ready")
    print(
        f"OCR ({settings.OCR_ENGINE}, {settings.OCR_DPI} DPI): {len(files)} scanned PDFs, "
        f"{ready} ready; {looked_at} pages OCR'd ({read} with text) in {ocr_seconds:.1f} s, "
        f"{ocr_seconds / max(looked_at, 1):.1f} s per page"
    )
    services.corpus_delete(corpus=corpus)


if __name__ == "__main__":
    main()

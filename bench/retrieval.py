"""Retrieval quality of every search configuration on three evaluation sets, in one run.

    .venv/bin/python bench/retrieval.py [--sets techdocs,sec,scifact] [--limit N]
        [--json out.json] [--reingest] [--embedding-model ALIAS]

Sets (bench/retrieval_sets.py): Hatch's documentation with hand-written questions, some of them
not answered by the corpus (techdocs); SEC 10-Q filings with reviewed Q&A (sec); BEIR SciFact
(scifact). Each set is uploaded and ingested by Docent's own services into a corpus of its own
database, `<benchmark database>_<set>` (docent_bench_techdocs unless LOCAL_DATABASE_NAME or
DATABASE_URL names another), so no set's chunks share the HNSW index with another's. The
corpora are kept: a rerun embeds nothing again (--reingest rebuilds them). --embedding-model
measures another model of settings.EMBEDDING_MODELS (e.g. multilingual-e5-small); its corpora
live in databases of their own, `<benchmark database>_<set>_<model>`.

Per set and configuration:
- hit@1, hit@5, MRR@10 of the answer passage: a hit is a chunk of an expected file containing
  the answer (techdocs: the answer string, compared ignoring case and whitespace; sec: one of the
  answer's key figures, see `retrieval_sets.key_figures`; scifact: any chunk of a relevant
  abstract), over the answerable questions that have an answer to look for;
- nDCG@10 where the set has qrels (documents ranked by their best chunk);
- file hit@5: a top-5 chunk comes from an expected file (answerable questions);
- abstention precision and recall, abstaining being the positive class, where the set has
  unanswerable questions, and how many answerable questions were abstained on; retrieval
  metrics ignore abstention;
- p50 and p95 of one search call, the query's embedding included, after a short warm-up.
"answer in a chunk" is the ceiling chunking leaves: answerable questions whose answer is inside
at least one chunk of an expected file.

Search depth is 10 chunks, 50 for SciFact (as bench/scifact.py: ten abstracts need more than ten
chunks). --limit keeps the first N answerable and the first N unanswerable questions of each set.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from _common import corpus_ensure, ndcg_at_k, use_database
from _setup import ROOT, django_setup, median, percentile
from retrieval_metrics import (
    abstention,
    first_relevant_rank,
    hit_at_k,
    mean,
    reciprocal_rank,
    unique_in_order,
)
from retrieval_sets import SETS, EvalSet, Question

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from documents.models import Corpus

WARM_UP = 3


class Hit(Protocol):
    document: str  # the uploaded filename
    text: str


def never(*, query: str, hits: Sequence[Hit]) -> bool:
    return False


def corpus_search(mode: str) -> Callable[..., Sequence[Hit]]:
    def search(*, corpus: Corpus, query: str, k: int) -> Sequence[Hit]:
        from documents.services import corpus_search

        return corpus_search(corpus=corpus, query=query, k=k, mode=mode)

    return search


def with_stages(*stages: str) -> Callable[..., Sequence[Hit]]:
    """Hybrid search, then these retrieval stages (dotted paths, default options) only."""

    def search(*, corpus: Corpus, query: str, k: int) -> Sequence[Hit]:
        from django.utils.module_loading import import_string

        from documents.retrieval import retrieve

        built = [import_string(stage)() for stage in stages]
        return retrieve(corpus=corpus, query=query, k=k, stages=built).hits

    return search


def with_relevance() -> tuple[Callable[..., Sequence[Hit]], Callable[..., bool]]:
    """Hybrid search scored by the relevance stage (the settings' thresholds): abstains where
    the stage says the corpus does not answer, as every strategy does."""
    supported: dict[str, bool] = {}

    def search(*, corpus: Corpus, query: str, k: int) -> Sequence[Hit]:
        from django.conf import settings
        from django.utils.module_loading import import_string

        from documents.retrieval import retrieve

        config = next(
            c for c in settings.RETRIEVAL_STAGES if c["BACKEND"].endswith(".RelevanceScore")
        )
        stage = import_string(config["BACKEND"])(**config.get("OPTIONS", {}))
        retrieval = retrieve(corpus=corpus, query=query, k=k, stages=[stage])
        supported[query] = retrieval.supported is not False
        return retrieval.hits

    def abstain(*, query: str, hits: Sequence[Hit]) -> bool:
        return not supported.get(query, True)

    return search, abstain


@dataclass(frozen=True)
class Configuration:
    """`search(corpus=, query=, k=)` returns hits, best first; `abstain(query=, hits=)` is True
    where the answer should be "the documents do not say" rather than drawn from the hits."""

    name: str
    search: Callable[..., Sequence[Hit]]
    abstain: Callable[..., bool] = never


# One line per configuration; an improvement adds its own (e.g. hybrid + reranking).
CONFIGURATIONS: list[Configuration] = [
    Configuration("full-text", corpus_search("fulltext")),
    Configuration("vector", corpus_search("vector")),
    Configuration("hybrid", corpus_search("hybrid")),
    Configuration(
        "hybrid + neighbours", with_stages("documents.retrieval.stages.NeighbourExpansionStage")
    ),
    Configuration("hybrid + relevance", *with_relevance()),
]


@dataclass(frozen=True)
class Outcome:
    question: Question
    passage_rank: int | None  # 1-based rank of the first answer passage
    file_rank: int | None
    passage_flags: list[bool]
    file_flags: list[bool]
    documents: list[str]
    abstained: bool
    ms: float


def ask(eval_set: EvalSet, corpus: Corpus, config: Configuration, question: Question) -> Outcome:
    started = time.perf_counter()
    hits = list(config.search(corpus=corpus, query=question.text, k=eval_set.k))
    ms = (time.perf_counter() - started) * 1000
    passage = [question.passage_relevant(document=h.document, text=h.text) for h in hits]
    files = [h.document in question.files for h in hits]
    return Outcome(
        question=question,
        passage_rank=first_relevant_rank(passage),
        file_rank=first_relevant_rank(files),
        passage_flags=passage,
        file_flags=files,
        documents=unique_in_order([h.document for h in hits]),
        abstained=bool(config.abstain(query=question.text, hits=hits)),
        ms=ms,
    )


def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o.question.answerable]
    scored = [o for o in answerable if o.question.passage_scored]
    graded = [o for o in answerable if o.question.qrels]
    unanswerable = [o for o in outcomes if not o.question.answerable]
    abstained = abstention(
        abstained=[o.abstained for o in outcomes],
        unanswerable=[not o.question.answerable for o in outcomes],
    )
    latencies = [o.ms for o in outcomes]
    return {
        "hit@1": mean([hit_at_k(o.passage_flags, k=1) for o in scored]),
        "hit@5": mean([hit_at_k(o.passage_flags, k=5) for o in scored]),
        "mrr@10": mean([reciprocal_rank(o.passage_flags, k=10) for o in scored]),
        "ndcg@10": mean([ndcg_at_k(o.documents, o.question.qrels or {}) for o in graded]),
        "file_hit@5": mean([hit_at_k(o.file_flags, k=5) for o in answerable]),
        "abstain_precision": abstained.precision if unanswerable else None,
        "abstain_recall": abstained.recall,
        "abstained": abstained.abstained,
        "false_abstentions": sum(o.abstained for o in answerable),
        "p50_ms": median(latencies),
        "p95_ms": percentile(latencies, 95),
    }


def evaluate(eval_set: EvalSet, corpus: Corpus, config: Configuration) -> dict[str, Any]:
    for question in eval_set.questions[:WARM_UP]:
        config.search(corpus=corpus, query=question.text, k=eval_set.k)
    outcomes = [ask(eval_set, corpus, config, q) for q in eval_set.questions]
    result = summarise(outcomes)
    result["questions"] = [
        {
            "id": o.question.id,
            "passage_rank": o.passage_rank,
            "file_rank": o.file_rank,
            "abstained": o.abstained,
            "ms": round(o.ms, 2),
        }
        for o in outcomes
    ]
    return result


def answer_in_a_chunk(eval_set: EvalSet, corpus: Corpus) -> tuple[int, int]:
    """(questions whose answer lies inside some chunk of an expected file, questions scored)."""
    from documents.models import Chunk

    texts: dict[str, list[str]] = {}
    for filename, text in Chunk.objects.filter(
        corpus=corpus, index_version=corpus.index_version
    ).values_list("document__filename", "text"):
        texts.setdefault(filename, []).append(text)
    scored = [q for q in eval_set.questions if q.answerable and q.passage_scored]
    reachable = sum(
        any(
            q.passage_relevant(document=name, text=text)
            for name in q.files
            for text in texts.get(name, [])
        )
        for q in scored
    )
    return reachable, len(scored)


def limited(eval_set: EvalSet, limit: int | None) -> EvalSet:
    if limit is None:
        return eval_set
    answerable = [q for q in eval_set.questions if q.answerable][:limit]
    unanswerable = [q for q in eval_set.questions if not q.answerable][:limit]
    return dataclasses.replace(eval_set, questions=answerable + unanswerable)


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(report: dict[str, Any]) -> str:
    counts = report["counts"]
    lines = [
        f"**{report['title']}**: {counts['answerable']} answerable questions "
        f"({counts['passage_scored']} with an answer to find, {report['answer_in_a_chunk']} of "
        f"them inside a chunk of their file), {counts['unanswerable']} unanswerable; "
        f"{counts['files']} files, {counts['chunks']} chunks; k = {report['k']}; "
        f"embeddings: {report['embedding_model']}.",
        *(f"({note})" for note in report["notes"]),
        "",
        "| configuration | hit@1 | hit@5 | MRR@10 | nDCG@10 | file hit@5 "
        "| abstention P | abstention R | answerable abstained | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["configurations"].items():
        precision = r["abstain_precision"]
        if precision is None and r["abstain_recall"] is not None:
            precision_text = "- (none)"  # never abstained: precision is undefined
        else:
            precision_text = fmt(precision)
        lines.append(
            f"| {name} | {fmt(r['hit@1'])} | {fmt(r['hit@5'])} | {fmt(r['mrr@10'])} "
            f"| {fmt(r['ndcg@10'])} | {fmt(r['file_hit@5'])} | {precision_text} "
            f"| {fmt(r['abstain_recall'])} | {r['false_abstentions']} of {counts['answerable']} "
            f"| {fmt(r['p50_ms'], 1)} | {fmt(r['p95_ms'], 1)} |"
        )
    return "\n".join(lines)


def run_set(
    eval_set: EvalSet,
    *,
    base_database: str,
    configurations: Sequence[Configuration],
    reingest: bool,
    embedding_model: str | None = None,
) -> dict[str, Any]:
    from documents.models import Chunk

    suffix = f"_{re.sub(r'[^a-z0-9]+', '_', embedding_model.lower())}" if embedding_model else ""
    use_database(f"{base_database}_{eval_set.name}{suffix}")
    corpus = corpus_ensure(
        slug=eval_set.slug,
        name=eval_set.title,
        files=eval_set.files,
        reingest=reingest,
        embedding_model=embedding_model,
    )
    reachable, scored = answer_in_a_chunk(eval_set, corpus)
    answerable = sum(q.answerable for q in eval_set.questions)
    report: dict[str, Any] = {
        "title": eval_set.title,
        "embedding_model": corpus.embedding_model,
        "k": eval_set.k,
        "notes": eval_set.notes,
        "answer_in_a_chunk": reachable,
        "counts": {
            "answerable": answerable,
            "passage_scored": scored,
            "unanswerable": len(eval_set.questions) - answerable,
            "files": len(eval_set.files),
            "chunks": Chunk.objects.filter(
                corpus=corpus, index_version=corpus.index_version
            ).count(),
        },
        "configurations": {},
    }
    for config in configurations:
        report["configurations"][config.name] = evaluate(eval_set, corpus, config)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--reingest", action="store_true")
    parser.add_argument("--embedding-model", default=None)
    args = parser.parse_args()
    names = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = [name for name in names if name not in SETS]
    if unknown:
        parser.error(f"unknown sets {unknown}; choose from {', '.join(SETS)}")
    # Ingestion runs in this process: nothing is queued for a worker that may share the broker.
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("MEDIA_ROOT", str(ROOT / ".data" / "bench" / "media"))
    django_setup()
    from django.db import connection

    base_database = connection.settings_dict["NAME"]
    reports: dict[str, Any] = {}
    for name in names:
        eval_set = limited(SETS[name](), args.limit)
        started = time.perf_counter()
        reports[name] = run_set(
            eval_set,
            base_database=base_database,
            configurations=CONFIGURATIONS,
            reingest=args.reingest,
            embedding_model=args.embedding_model,
        )
        print(f"\n{table(reports[name])}\n", flush=True)
        print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as handle:
            json.dump({"command": sys.argv, "sets": reports}, handle, indent=1)


if __name__ == "__main__":
    main()

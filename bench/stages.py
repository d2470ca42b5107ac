"""What the retrieval stages of documents/retrieval/stages.py cost and change, per question.

    .venv/bin/python bench/stages.py [--sets techdocs,sec] [--limit N] [--candidates 30]

Runs on the corpora bench/retrieval.py ingests (same databases; run that first). Per set:
- neighbour expansion: how many of the top-5 passages it widens, their mean length before and
  after (a longer passage contains more answers by itself: read bench/retrieval.py's
  "hybrid + neighbours" hit@5 with it), and the stage's own time (p50/p95 of apply());
- reranking: only the time the stage adds (search with `--candidates` results instead of k,
  plus one HTTP round trip to the fake rerank server of tests/fakes with those passages).
  The fake scores by word overlap, so its ranking quality means nothing and is not reported;
  a real endpoint adds its own inference and network time on top.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import use_database
from _setup import django_setup, median, percentile
from retrieval_metrics import mean
from retrieval_sets import SETS

WARM_UP = 3


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def run_set(name: str, *, base_database: str, limit: int | None, candidates: int) -> None:
    from django.test.utils import override_settings

    from documents.models import Corpus
    from documents.retrieval import Retrieval, corpus_search
    from documents.retrieval.stages import NeighbourExpansionStage, RerankStage
    from tests.fakes.rerank_server import FakeRerankServer

    eval_set = SETS[name]()
    use_database(f"{base_database}_{name}")
    corpus = Corpus.objects.filter(slug=eval_set.slug).first()
    if corpus is None:
        raise SystemExit(f"{name}: no corpus; run bench/retrieval.py --sets {name} first")
    questions = [q for q in eval_set.questions if q.answerable and q.passage_scored][:limit]
    k = eval_set.k
    neighbours = NeighbourExpansionStage()
    server = FakeRerankServer().start()
    rerankers = {
        "fake": {
            "BACKEND": "documents.retrieval.rerankers.HttpRerankEndpoint",
            "OPTIONS": {"url": server.url("cohere")},
        }
    }
    rows: list[dict[str, Any]] = []
    with override_settings(RERANKERS=rerankers):
        rerank = RerankStage(reranker="fake", candidates=candidates)
        for index, question in enumerate(questions):
            started = time.perf_counter()
            hits = corpus_search(corpus=corpus, query=question.text, k=k)
            search_ms = ms_since(started)
            retrieval = Retrieval(corpus=corpus, query=question.text, k=k, hits=tuple(hits))
            started = time.perf_counter()
            expanded = neighbours.apply(retrieval)
            neighbours_ms = ms_since(started)

            started = time.perf_counter()
            wide = corpus_search(corpus=corpus, query=question.text, k=rerank.candidates(k))
            reranked = rerank.apply(
                Retrieval(corpus=corpus, query=question.text, k=k, hits=tuple(wide))
            )
            rerank_ms = ms_since(started)
            assert reranked.trace["rerank"]["order"] == "reranked", reranked.trace
            if index < WARM_UP:
                continue

            rows.append(
                {
                    "search_ms": search_ms,
                    "neighbours_ms": neighbours_ms,
                    "rerank_total_ms": rerank_ms,
                    "rerank_ms": reranked.trace["rerank"]["ms"],
                    "widened": sum(
                        a != b for a, b in zip(hits[:5], expanded.hits[:5], strict=True)
                    ),
                    "chars_before": mean([len(h.text) for h in hits[:5]]),
                    "chars_after": mean([len(h.text) for h in expanded.hits[:5]]),
                }
            )
    server.stop()

    def column(key: str) -> list[float]:
        return [float(row[key]) for row in rows]

    print(f"\n**{eval_set.title}**: {len(rows)} answerable questions, k = {k}")
    print(
        f"- neighbour expansion: widened {sum(column('widened')) / len(rows):.2f} of the top 5 "
        f"per question; mean top-5 passage {mean(column('chars_before')):.0f} -> "
        f"{mean(column('chars_after')):.0f} characters; stage "
        f"p50 {median(column('neighbours_ms')):.1f} ms, p95 "
        f"{percentile(column('neighbours_ms'), 95):.1f} ms"
    )
    print(
        f"- reranking ({candidates} candidates, fake endpoint): the stage p50 "
        f"{median(column('rerank_ms')):.1f} ms, p95 {percentile(column('rerank_ms'), 95):.1f} ms; "
        f"search of {candidates} + stage p50 {median(column('rerank_total_ms')):.1f} ms, p95 "
        f"{percentile(column('rerank_total_ms'), 95):.1f} ms, against plain search of {k} p50 "
        f"{median(column('search_ms')):.1f} ms, p95 {percentile(column('search_ms'), 95):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="techdocs,sec")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--candidates", type=int, default=30)
    args = parser.parse_args()
    django_setup()
    from django.db import connection

    base_database = connection.settings_dict["NAME"]
    for name in [name.strip() for name in args.sets.split(",") if name.strip()]:
        run_set(name, base_database=base_database, limit=args.limit, candidates=args.candidates)


if __name__ == "__main__":
    main()

"""The SEC 10-Q filings evaluated side by side with the app's own evaluation runs: the local
strategy (extractive, and with a chat model) over pgvector, and File Search over an OpenAI
vector store holding the same files, both against the fake OpenAI server (no network).

    python bench/evaluation_sec.py [--filings GLOB,...] [--files N] [--limit N] [--sample N]

Writes to its own database (LOCAL_DATABASE_NAME, default docent_bench) and prints the run's
Markdown table (the README's). The pgvector corpus is kept between runs; the vector store lives
in the fake server, so that corpus is rebuilt every time. Expected documents are the filings a
question's "Source Docs" names; the expected answer string is the reviewed answer's first key
figure (bench/retrieval_sets.py) as the answer writes it, with its currency sign, percent sign
or scale word ("$19.145 billion"), so "answer cited" is measured on questions that have one
(evaluation.metrics.answer_found says how it is matched).
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import re
import sys
import time
from pathlib import Path

from _setup import ROOT, django_setup

sys.path.insert(0, str(ROOT))

PGVECTOR = "bench-sec-10q"
REMOTE = "bench-sec-10q-openai"
SET_NAME = "sec-10q reviewed"


def ingest(slug: str, backend: str, files: list[tuple[str, Path]]) -> object:
    from documents import services
    from documents.models import Corpus, DocumentStatus

    corpus = Corpus.objects.filter(slug=slug).first()
    if corpus is None:
        corpus = services.corpus_create(
            name=f"SEC 10-Q ({backend})", slug=slug, index_backend=backend
        )
    have = set(
        corpus.documents.filter(status=DocumentStatus.READY).values_list("filename", flat=True)
    )
    for name, path in files:
        if name in have:
            continue
        started = time.perf_counter()
        outcome = services.document_upload(
            corpus=corpus, file=io.BytesIO(path.read_bytes()), filename=name
        )
        services.document_ingest(document_id=outcome.document.pk)
        outcome.document.refresh_from_db()
        print(
            f"{slug}: {name} {outcome.document.status} in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
    corpus.refresh_from_db()
    return corpus


def key_amount(answer: str, figure: str) -> str:
    """The key figure as the answer writes it, with its currency and unit: "$19.145 billion"
    for 19.145, "43.3%" for 43.3; the figure alone when the answer has neither."""
    match = re.search(
        rf"(?:\$\s?)?(?<![\d.,]){re.escape(figure)}(?![\d]|[.,]\d)"
        r"(?:\s?%|\s(?:percent|thousand|million|billion)\b)?",
        answer,
    )
    return match.group().strip() if match else figure


def question_set(
    corpus: object, limit: int | None, files: int | None, filings: list[str], sample: int | None
) -> object:
    from retrieval_sets import sec

    from evaluation.models import Question, QuestionSet

    evalset = sec()
    chosen = evalset.files[:files] if files else evalset.files
    if filings:
        chosen = [f for f in chosen if any(fnmatch.fnmatch(f[0], glob) for glob in filings)]
    names = {name for name, _ in chosen}
    # With fewer filings, only the questions those filings answer (and the unanswerable ones).
    questions = [q for q in evalset.questions if q.files <= names]
    QuestionSet.objects.filter(corpus=corpus, name=SET_NAME).delete()
    qs = QuestionSet.objects.create(
        corpus=corpus,
        name=SET_NAME,
        description="docugami-sec-10q qna_data.csv (reviewed answers), via bench/evaluation_sec.py",
    )
    questions = questions[:limit] if limit else questions
    if sample and sample < len(questions):
        # Evenly spread over the set (it is grouped by company and question type).
        questions = [questions[i * len(questions) // sample] for i in range(sample)]
    Question.objects.bulk_create(
        Question(
            question_set=qs,
            text=q.text,
            expected_documents=sorted(q.files),
            expected_answer=key_amount(q.answer_text, q.answers[0]) if q.answers else "",
            answerable=q.answerable,
            origin="import",
        )
        for q in questions
    )
    return qs, list(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="Only the first N questions.")
    parser.add_argument(
        "--files",
        type=int,
        help="Only the first N filings (alphabetically) and the questions they answer.",
    )
    parser.add_argument(
        "--sample", type=int, help="Only N questions, evenly spread over the chosen ones."
    )
    parser.add_argument(
        "--filings",
        default="",
        help="Only the filings matching these comma-separated globs of stored names "
        "('2022_Q3_*,2023_Q3_*') and the questions they answer.",
    )
    args = parser.parse_args()
    filings = [glob.strip() for glob in args.filings.split(",") if glob.strip()]
    django_setup()

    from django.conf import settings
    from django.test.utils import override_settings

    from documents.models import Corpus
    from evaluation.runs import evaluation_run_create, evaluation_run_execute
    from evaluation.summary import summary_table
    from tests.fakes.openai_server.server import FakeOpenAIServer

    server = FakeOpenAIServer().start()
    server.processing_polls = 0
    manual = settings.CHAT_STRATEGIES["manual_retrieval"]
    strategies = {
        **settings.CHAT_STRATEGIES,
        "manual_retrieval": {**manual, "OPTIONS": {**manual["OPTIONS"], "model": ""}},
        # The same strategy with a chat model: the fake server's, over real HTTP.
        "manual_retrieval_chat": {
            **manual,
            "OPTIONS": {
                **manual["OPTIONS"],
                "base_url": server.base_url,
                "api_key": "bench",
                "model": "fake-chat",
            },
        },
    }
    try:
        with override_settings(
            OPENAI_BASE_URL=server.base_url,
            OPENAI_API_KEY="bench",
            OPENAI_MAX_RETRIES=0,
            CHAT_STRATEGIES=strategies,
        ):
            Corpus.objects.filter(slug=REMOTE).delete()  # its store was in the last fake server
            local = Corpus.objects.filter(slug=PGVECTOR).first() or ingest(PGVECTOR, "pgvector", [])
            qs, files = question_set(local, args.limit, args.files, filings, args.sample)
            local = ingest(PGVECTOR, "pgvector", files)
            ingest(REMOTE, "openai", files)
            run = evaluation_run_create(
                question_set=qs,
                configurations=[
                    {"label": "local extractive (pgvector)", "strategy": "manual_retrieval"},
                    {
                        "label": "local + fake chat model (pgvector)",
                        "strategy": "manual_retrieval_chat",
                    },
                    {
                        "label": "File Search (fake OpenAI vector store)",
                        "strategy": "file_search",
                        "corpus": REMOTE,
                    },
                ],
                enqueue=False,
            )

            def progress(current: object) -> None:
                done, total = current.progress_done, current.progress_total  # type: ignore[attr-defined]
                print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)

            finished = evaluation_run_execute(run_id=run.pk, progress=progress)
            print(file=sys.stderr)
    finally:
        server.stop()
    assert finished is not None
    count = qs.questions.count()
    with_answer = qs.questions.exclude(expected_answer="").count()
    print(
        f"Evaluation run {finished.pk}: {count} questions of {SET_NAME!r} ({with_answer} with an "
        f"expected answer string) over {len(files)} filings: {', '.join(n for n, _ in files)}"
    )
    print(summary_table(finished))


if __name__ == "__main__":
    main()

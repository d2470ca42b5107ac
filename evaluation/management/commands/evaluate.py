from __future__ import annotations

import json
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from documents.models import Corpus
from evaluation.models import QuestionSet
from evaluation.questions import question_set_create, questions_import
from evaluation.runs import evaluation_run_create, evaluation_run_execute
from evaluation.summary import THRESHOLDS, summary_table, threshold_failures


class Command(BaseCommand):
    help = (
        "Evaluate a corpus on one of its question sets, under one or more configurations, "
        "in this process (no worker needed). Exits 1 when a metric is below a --min-* "
        "threshold, so it can gate a CI pipeline. The run is kept and shown in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--corpus", required=True, metavar="SLUG")
        parser.add_argument("--set", required=True, metavar="NAME", dest="set_name")
        parser.add_argument(
            "--strategy",
            action="append",
            default=[],
            help="A configuration answering with this strategy; repeat to compare strategies "
            "(default: one configuration, the corpus's strategy).",
        )
        parser.add_argument(
            "--configuration",
            action="append",
            default=[],
            metavar="JSON",
            help='A configuration as JSON, e.g. \'{"label": "k3", "top_k": 3, "rerank": false, '
            '"corpus": "other-slug"}\'; repeatable, combined with --strategy.',
        )
        parser.add_argument("--top-k", type=int, help="top_k for the --strategy configurations.")
        parser.add_argument(
            "--import",
            dest="import_file",
            metavar="FILE",
            help="Create the set from this CSV or JSONL file first if it does not exist.",
        )
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")
        for name, (metric, label) in THRESHOLDS.items():
            parser.add_argument(
                f"--min-{name}",
                type=float,
                metavar="X",
                dest=f"min_{metric}",
                help=f"Fail when {label} is below X (0..1) for any configuration.",
            )

    def handle(self, *args: Any, **options: Any) -> None:
        corpus = Corpus.objects.filter(slug=options["corpus"]).first()
        if corpus is None:
            raise CommandError(f"There is no corpus “{options['corpus']}”.")
        question_set = QuestionSet.objects.filter(corpus=corpus, name=options["set_name"]).first()
        if question_set is None and options["import_file"]:
            question_set = self._import(corpus, options["set_name"], options["import_file"])
        if question_set is None:
            names = ", ".join(corpus.question_sets.values_list("name", flat=True)) or "none"
            raise CommandError(
                f"“{corpus.slug}” has no question set “{options['set_name']}” (it has: {names})."
            )
        configurations: list[dict[str, Any]] = [
            {"strategy": strategy, **({"top_k": options["top_k"]} if options["top_k"] else {})}
            for strategy in options["strategy"]
        ]
        for raw in options["configuration"]:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as error:
                raise CommandError(f"--configuration is not JSON: {error.msg}") from None
            configurations.append(value)
        if not configurations:
            configurations = [{"top_k": options["top_k"]} if options["top_k"] else {}]
        try:
            run = evaluation_run_create(
                question_set=question_set, configurations=configurations, enqueue=False
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        stderr = sys.stderr

        def progress(current: Any) -> None:
            stderr.write(f"\r{current.progress_done}/{current.progress_total} answered")
            stderr.flush()

        finished = evaluation_run_execute(run_id=run.pk, progress=progress)
        stderr.write("\n")
        if finished is None:
            raise CommandError(f"Evaluation run {run.pk} could not be completed.")
        thresholds = {
            metric: options[f"min_{metric}"]
            for metric, _ in THRESHOLDS.values()
            if options[f"min_{metric}"] is not None
        }
        failures = threshold_failures(finished.summary, thresholds)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "run": finished.pk,
                        "corpus": corpus.slug,
                        "set": question_set.name,
                        "configurations": finished.configurations,
                        "summary": finished.summary,
                        "failures": failures,
                    },
                    indent=2,
                )
            )
        else:
            self.stdout.write(
                f"Evaluation run {finished.pk} of “{question_set.name}” on {corpus.slug}"
            )
            self.stdout.write(summary_table(finished))
        if failures:
            raise CommandError("Below threshold: " + "; ".join(failures))

    def _import(self, corpus: Corpus, name: str, path: str) -> QuestionSet:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        question_set = question_set_create(corpus=corpus, name=name)
        outcome = questions_import(question_set=question_set, data=data, filename=path)
        if outcome.errors:
            question_set.delete()
            raise CommandError("Import refused:\n" + "\n".join(outcome.errors[:20]))
        self.stderr.write(f"Question set “{name}” created with {outcome.created} questions.")
        return question_set

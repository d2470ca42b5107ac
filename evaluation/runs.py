"""Evaluation runs: one question set answered under one or more configurations.

Every question is asked in a conversation of its own (no history), through the same
`message_ask` as any user, so its answer and provenance are stored like any other and the run's
page links to them. A configuration changes only what it names; everything else is as
configured. A run is a job row (documents/jobs.py): claimed, leased, resumable (results already
stored are kept), re-enqueued when its worker dies.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.test.utils import override_settings
from django.utils import timezone

from chat.models import Message, MessageStatus
from chat.services import (
    conversation_start,
    corpus_strategy,
    message_ask_collect,
    strategy_validate,
)
from chat.usage import model_price
from documents import jobs
from documents.models import Corpus, Page
from evaluation import metrics
from evaluation.models import (
    METRIC_FIELDS,
    EvaluationResult,
    EvaluationRun,
    Interface,
    PassageRole,
    Question,
    QuestionSet,
    RunStatus,
)
from evaluation.provenance import asked_via

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

RUN = jobs.JobStates(
    name="evaluation run",
    queued=RunStatus.QUEUED,
    running=RunStatus.RUNNING,
    failed=RunStatus.FAILED,
)
CONFIG_KEYS = {"label", "strategy", "corpus", "top_k", "rerank", "index_version"}
# The option that sets how many passages a strategy retrieves, by strategy class option name.
_TOP_K_OPTIONS = ("top_k", "max_results")
_RERANK_STAGE = "documents.retrieval.stages.RerankStage"


# --- configurations ---------------------------------------------------------------------------


def configurations_clean(
    *, corpus: Corpus, configurations: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Validated configurations with every field filled in, labels unique."""
    if not configurations:
        raise ValidationError({"configurations": "Give at least one configuration."})
    cleaned: list[dict[str, Any]] = []
    for number, raw in enumerate(configurations, start=1):
        where = f"Configuration {number}"
        if not isinstance(raw, Mapping):
            raise ValidationError({"configurations": f"{where} is not an object."})
        unknown = sorted(set(raw) - CONFIG_KEYS)
        if unknown:
            raise ValidationError(
                {
                    "configurations": f"{where}: unknown key(s) {', '.join(unknown)}; use "
                    f"{', '.join(sorted(CONFIG_KEYS))}."
                }
            )
        target = corpus
        if raw.get("corpus"):
            named = Corpus.objects.filter(slug=raw["corpus"]).first()
            if named is None:
                raise ValidationError(
                    {"configurations": f"{where}: there is no corpus “{raw['corpus']}”."}
                )
            target = named
        strategy = str(raw.get("strategy") or corpus_strategy(target))
        try:
            strategy_validate(corpus=target, strategy=strategy)
        except ValidationError as error:
            raise ValidationError(
                {"configurations": f"{where}: {' '.join(error.messages)}"}
            ) from None
        top_k = raw.get("top_k")
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 50:
                raise ValidationError({"configurations": f"{where}: top_k is 1 to 50."})
            options = settings.CHAT_STRATEGIES[strategy].get("OPTIONS", {})
            if not any(name in options for name in _TOP_K_OPTIONS):
                raise ValidationError(
                    {"configurations": f"{where}: {strategy} has no top-k setting."}
                )
        rerank = raw.get("rerank")
        if rerank is not None and not isinstance(rerank, bool):
            raise ValidationError({"configurations": f"{where}: rerank is true or false."})
        if rerank and not settings.RERANKERS:
            raise ValidationError(
                {
                    "configurations": f"{where}: no reranker is configured (RERANK_API_URL or "
                    "RERANK_CROSS_ENCODER_PATH), so rerank cannot be on."
                }
            )
        version = raw.get("index_version")
        if version is not None and version != target.index_version:
            raise ValidationError(
                {
                    "configurations": f"{where}: “{target.slug}” answers from index version "
                    f"{target.index_version} only. Evaluate before and after a re-index (runs "
                    "are kept), or compare with another corpus holding the same files."
                }
            )
        label = str(raw.get("label") or _label(strategy, target, corpus, top_k, rerank))[:100]
        cleaned.append(
            {
                "label": label,
                "strategy": strategy,
                "corpus": target.slug,
                "top_k": top_k,
                "rerank": rerank,
                "index_version": target.index_version,
            }
        )
    labels = [config["label"] for config in cleaned]
    if len(set(labels)) != len(labels):
        raise ValidationError({"configurations": "Give each configuration its own label."})
    return cleaned


def _label(
    strategy: str, target: Corpus, corpus: Corpus, top_k: int | None, rerank: bool | None
) -> str:
    parts = [strategy]
    if target.pk != corpus.pk:
        parts.append(f"@{target.slug}")
    if top_k is not None:
        parts.append(f"k={top_k}")
    if rerank is not None:
        parts.append("rerank" if rerank else "no rerank")
    return " ".join(parts)


@contextmanager
def configuration_applied(config: Mapping[str, Any]) -> Iterator[None]:
    """The settings a configuration changes, for the duration of its questions (a worker runs
    one task per process, so this is never seen by another answer)."""
    changes: dict[str, Any] = {}
    if config.get("top_k") is not None:
        strategy = dict(settings.CHAT_STRATEGIES[config["strategy"]])
        options = dict(strategy.get("OPTIONS", {}))
        for name in _TOP_K_OPTIONS:
            if name in options:
                options[name] = config["top_k"]
        strategy["OPTIONS"] = options
        changes["CHAT_STRATEGIES"] = {**settings.CHAT_STRATEGIES, config["strategy"]: strategy}
    if config.get("rerank") is False:
        changes["RETRIEVAL_STAGES"] = [
            stage for stage in settings.RETRIEVAL_STAGES if stage["BACKEND"] != _RERANK_STAGE
        ]
    elif config.get("rerank") and not any(
        stage["BACKEND"] == _RERANK_STAGE for stage in settings.RETRIEVAL_STAGES
    ):
        stage = {
            "BACKEND": _RERANK_STAGE,
            "OPTIONS": {"reranker": next(iter(settings.RERANKERS)), "candidates": 30},
        }
        changes["RETRIEVAL_STAGES"] = [stage, *settings.RETRIEVAL_STAGES]
    if not changes:
        yield
        return
    with override_settings(**changes):
        yield


# --- creating ---------------------------------------------------------------------------------


def evaluation_run_create(
    *,
    question_set: QuestionSet,
    configurations: Sequence[Mapping[str, Any]],
    user: User | None = None,
    enqueue: bool = True,
) -> EvaluationRun:
    cleaned = configurations_clean(corpus=question_set.corpus, configurations=configurations)
    total = question_set.questions.confirmed().count()
    if not total:
        raise ValidationError(
            {"question_set": f"“{question_set.name}” has no confirmed questions to evaluate."}
        )
    with transaction.atomic():
        run = EvaluationRun.objects.create(
            question_set=question_set,
            corpus=question_set.corpus,
            configurations=cleaned,
            progress_total=total * len(cleaned),
            created_by=user,
        )
        if enqueue:
            _enqueue(run.pk)
    logger.info(
        "evaluation run %s created (question set %s, %s configurations, %s questions)",
        run.pk,
        question_set.pk,
        len(cleaned),
        total,
    )
    return run


def _enqueue(run_id: int) -> None:
    from evaluation.tasks import evaluation_run_execute

    transaction.on_commit(lambda: evaluation_run_execute.delay(run_id=run_id))


# --- running ----------------------------------------------------------------------------------


def evaluation_run_execute(
    *, run_id: int, token: str = "", progress: Callable[[EvaluationRun], None] | None = None
) -> EvaluationRun | None:
    """Answer every confirmed question under every configuration and store the metrics.
    Results already stored (a resumed run) are kept; returns the finished run, or None when
    it could not be claimed."""
    lease = jobs.claim(
        EvaluationRun.objects.all(),
        pk=run_id,
        states=RUN,
        token=token,
        started_at=Coalesce("started_at", Value(timezone.now())),
        error="",
    )
    if lease is None:
        return None
    run = EvaluationRun.objects.select_related("question_set", "corpus").get(pk=run_id)
    if lease.attempt > settings.INGEST_MAX_ATTEMPTS:
        lease.fail(
            f"The run was interrupted {lease.interrupted} times (the worker stopped). Start it "
            "again once the workers are healthy.",
            finished_at=timezone.now(),
        )
        return None
    questions = list(run.question_set.questions.confirmed().order_by("id"))
    done = set(run.results.values_list("configuration", "question_id"))
    for config in run.configurations:
        target = Corpus.objects.get(slug=config["corpus"])
        with configuration_applied(config):
            for question in questions:
                if (config["label"], question.pk) in done:
                    continue
                result = _evaluate_one(run, config, target, question)
                done.add((config["label"], question.pk))
                if not lease.renew(progress_done=len(done)):
                    logger.warning("evaluation run %s: claim taken over; stopping", run.pk)
                    return None
                run.progress_done = len(done)
                if progress is not None:
                    progress(run)
                logger.info(
                    "evaluation run %s: %s/%s (%s, question %s%s)",
                    run.pk,
                    len(done),
                    run.progress_total,
                    config["label"],
                    question.pk,
                    ", failed" if result.error else "",
                )
    summary = run_summary(run)
    lease.rows.update(
        status=RunStatus.DONE,
        summary=summary,
        progress_done=len(done),
        finished_at=timezone.now(),
        lease_expires_at=None,
    )
    run.refresh_from_db()
    logger.info("evaluation run %s done", run.pk)
    return run


def _evaluate_one(
    run: EvaluationRun, config: Mapping[str, Any], target: Corpus, question: Question
) -> EvaluationResult:
    conversation = conversation_start(
        corpus=target,
        user=None,
        strategy=config["strategy"],
        title=f"Evaluation run {run.pk} · {config['label']}",
    )
    with asked_via(Interface.EVALUATION):
        message = message_ask_collect(conversation=conversation, question=question.text)
    values = result_values(message=message, question=question)
    result, _ = EvaluationResult.objects.update_or_create(
        run=run, configuration=config["label"], question=question, defaults=values
    )
    return result


def result_values(*, message: Message, question: Question) -> dict[str, Any]:
    """The metrics of one stored answer against one question's expectations."""
    expected = metrics.Expected(
        documents=tuple(question.expected_documents),
        pages=tuple(question.expected_pages),
        answer=question.expected_answer,
        answerable=question.answerable,
    )
    retrieved = retrieved_of(message)
    flags = metrics.relevance_flags(retrieved, expected)
    quotes = [str(c.get("quote") or "") for c in message.citations]
    failed = message.status != MessageStatus.COMPLETE
    abstained = failed or not message.grounded
    ranked = question.answerable and bool(expected.documents or expected.answer)
    return {
        "message": message,
        "retrieved": [
            {"document": p.document, "page": p.page, "page_end": p.page_end, "score": p.score}
            for p in retrieved
        ],
        "hit_at_1": metrics.hit_at_k(flags, k=1) if ranked else None,
        "hit_at_5": metrics.hit_at_k(flags, k=5) if ranked else None,
        "reciprocal_rank": metrics.reciprocal_rank(flags) if ranked else None,
        "answer_in_citations": (
            metrics.answer_in_quotes(quotes, question.expected_answer)
            if question.answerable
            else None
        ),
        "citations_valid": citations_valid(message.citations),
        "abstained": abstained,
        "abstention_correct": metrics.abstention_correct(
            abstained=abstained, answerable=question.answerable
        ),
        "first_token_ms": message.first_token_ms,
        "total_ms": message.latency_ms,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "model": message.model,
        "cost_usd": cost_usd(message.model, message.prompt_tokens, message.completion_tokens),
        "error": message.error if failed else "",
    }


def retrieved_of(message: Message) -> list[metrics.Retrieved]:
    """The passages the answer was given, best first; for strategies that do not report them
    (File Search), the passages it cited, in citation order."""
    provenance = getattr(message, "provenance", None)
    if provenance is None:
        return [
            metrics.Retrieved(
                document=str(c.get("document") or ""),
                page=c.get("page"),
                page_end=c.get("page_end"),
                text=str(c.get("quote") or ""),
            )
            for c in message.citations
        ]
    passages = list(provenance.passages.all())
    context = [p for p in passages if p.role == PassageRole.CONTEXT]
    chosen = context or [p for p in passages if p.role == PassageRole.CITED]
    return [
        metrics.Retrieved(
            document=p.document_name,
            page=p.page_start,
            page_end=p.page_end,
            text=p.text,
            score=p.score,
        )
        for p in chosen
    ]


def citations_valid(citations: Sequence[Mapping[str, Any]]) -> bool | None:
    """Every cited quote is found on its cited page(s); None when nothing is cited."""
    if not citations:
        return None
    for citation in citations:
        document_id = citation.get("document_id")
        page = citation.get("page")
        if not document_id or page is None:
            return False
        last = citation.get("page_end") or page
        texts = Page.objects.filter(
            document_id=document_id, number__gte=page, number__lte=last
        ).values_list("text", flat=True)
        if not metrics.quote_on_page(str(citation.get("quote") or ""), "\n".join(texts)):
            return False
    return True


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    if not prompt_tokens and not completion_tokens:
        return 0.0
    price = model_price(model)
    if price is None or "input" not in price:
        return None
    return (
        prompt_tokens * float(price["input"]) + completion_tokens * float(price.get("output", 0))
    ) / 1_000_000


# --- summaries --------------------------------------------------------------------------------


def _rate(values: Sequence[Any]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _percentile(values: Sequence[int], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def run_summary(run: EvaluationRun) -> dict[str, dict[str, Any]]:
    """Per configuration: each metric's mean over the questions it applies to, abstention
    precision/recall, latency percentiles, tokens, cost."""
    results = list(run.results.select_related("question"))
    summary: dict[str, dict[str, Any]] = {}
    for label in run.labels:
        mine = [r for r in results if r.configuration == label]
        row: dict[str, Any] = {
            name: _rate([getattr(r, name) for r in mine]) for name in METRIC_FIELDS
        }
        abstention = metrics.abstention(
            abstained=[r.abstained for r in mine],
            unanswerable=[not r.question.answerable for r in mine],
        )
        ttft = sorted(r.first_token_ms for r in mine if r.first_token_ms is not None)
        total = sorted(r.total_ms for r in mine if r.total_ms is not None)
        costs = [r.cost_usd for r in mine]
        row.update(
            questions=len(mine),
            errors=sum(1 for r in mine if r.error),
            abstained=abstention.abstained,
            abstention_precision=abstention.precision,
            abstention_recall=abstention.recall,
            ttft_p50_ms=_percentile(ttft, 0.5),
            ttft_p95_ms=_percentile(ttft, 0.95),
            total_p50_ms=_percentile(total, 0.5),
            total_p95_ms=_percentile(total, 0.95),
            prompt_tokens=sum(r.prompt_tokens for r in mine),
            completion_tokens=sum(r.completion_tokens for r in mine),
            cost_usd=None if any(c is None for c in costs) else sum(c or 0.0 for c in costs),
        )
        summary[label] = row
    return summary


def run_disagreements(run: EvaluationRun) -> list[dict[str, Any]]:
    """Questions on which the configurations differ in hit@5, abstention or whether the
    answer string was cited, with each configuration's result."""
    by_question: dict[int, dict[str, EvaluationResult]] = {}
    for result in run.results.select_related("question", "message"):
        by_question.setdefault(result.question_id, {})[result.configuration] = result
    rows = []
    for results in by_question.values():
        if len(results) < 2:
            continue
        keys = {(r.hit_at_5, r.abstention_correct, r.answer_in_citations) for r in results.values()}
        if len(keys) > 1:
            question = next(iter(results.values())).question
            rows.append(
                {"question": question, "results": [results.get(label) for label in run.labels]}
            )
    return rows


def evaluation_run_mark_failed(*, run_id: int, reason: str) -> None:
    jobs.fail(
        EvaluationRun.objects.filter(pk=run_id, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]),
        states=RUN,
        reason=reason,
        finished_at=timezone.now(),
    )


def evaluation_runs_requeue_stale(*, waiting_messages: int | None = None) -> int:
    return jobs.requeue_stale(
        EvaluationRun.objects.all(),
        states=RUN,
        enqueue=_enqueue,
        waiting_messages=waiting_messages,
    )

"""Provenance export and evaluation runs, for tokens with the manage permission."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from api.access import corpus_for
from api.auth import request_token
from api.errors import not_found
from api.rest.schemas import ErrorOut, Id, Slug
from api.scopes import Permission
from evaluation.models import AnswerProvenance, EvaluationRun, QuestionSet
from evaluation.provenance import (
    ProvenanceFilter,
    provenance_export_csv,
    provenance_export_jsonl,
    provenance_export_recorded,
    provenance_filter,
)
from evaluation.runs import evaluation_run_create

router = Router(tags=["evaluation"])

ERRORS = frozenset({400, 401, 403, 404, 422, 429})


class ProvenanceQuery(Schema):
    format: Literal["jsonl", "csv"] = "jsonl"
    user: str = Field("", description="Only answers to this username.")
    token: int | None = Field(None, description="Only answers asked with this API token id.")
    interface: str = Field("", description="web, rest, openai, cli or evaluation.")
    since: dt.datetime | None = Field(None, description="From this time (ISO 8601), inclusive.")
    until: dt.datetime | None = Field(None, description="Before this time (ISO 8601).")


@router.get(
    "/corpora/{slug}/provenance",
    response={200: None, ERRORS: ErrorOut},
    summary="Export what answers were made from",
)
def provenance_export(
    request: HttpRequest, slug: Slug, query: Query[ProvenanceQuery]
) -> StreamingHttpResponse:
    """Every answer of the corpus with the passages given to it and quoted (text, SHA-256,
    chunk id, document, pages, index version, scores), who asked and through which
    interface; JSON lines (one answer per line) or CSV (one row per passage). Needs the
    manage permission."""
    token = request_token(request)
    corpus = corpus_for(token, slug, Permission.MANAGE)
    records = provenance_filter(
        AnswerProvenance.objects.filter(corpus=corpus),
        ProvenanceFilter(
            user=query.user,
            token=query.token,
            interface=query.interface,
            since=query.since,
            until=query.until,
        ),
    )
    provenance_export_recorded(
        request=request,
        fmt=query.format,
        filters=query.dict(exclude_none=True),
        corpus_id=corpus.pk,
    )
    if query.format == "csv":
        response = StreamingHttpResponse(
            provenance_export_csv(records), content_type="text/csv; charset=utf-8"
        )
    else:
        response = StreamingHttpResponse(
            provenance_export_jsonl(records), content_type="application/jsonl; charset=utf-8"
        )
    response["Content-Disposition"] = (
        f'attachment; filename="provenance-{corpus.slug}.{query.format}"'
    )
    return response


def _one_default_configuration() -> list[dict[str, Any]]:
    return [{}]


class RunIn(Schema):
    question_set: str = Field(description="The name of one of the corpus's question sets.")
    configurations: list[dict[str, Any]] = Field(
        default_factory=_one_default_configuration,
        description='Each {"label", "strategy", "corpus", "top_k", "rerank", "index_version"}; '
        "omitted keys are as configured.",
    )


class RunOut(Schema):
    id: int
    corpus: str
    question_set: str
    status: str
    error: str
    progress_done: int
    progress_total: int
    configurations: list[dict[str, Any]]
    summary: dict[str, Any]
    created_at: dt.datetime
    finished_at: dt.datetime | None


def run_out(run: EvaluationRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "corpus": run.corpus.slug,
        "question_set": run.question_set.name,
        "status": run.status,
        "error": run.error,
        "progress_done": run.progress_done,
        "progress_total": run.progress_total,
        "configurations": run.configurations,
        "summary": run.summary,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
    }


@router.post(
    "/corpora/{slug}/evaluation-runs",
    response={202: RunOut, ERRORS: ErrorOut},
    summary="Start an evaluation run",
)
def evaluation_run_start(request: HttpRequest, slug: Slug, body: RunIn) -> Status[dict[str, Any]]:
    """Queue a run of one question set under one or more configurations (needs the manage
    permission on this corpus and on any other corpus a configuration names). Poll
    GET /api/evaluation-runs/{id} until the status is done or failed."""
    token = request_token(request)
    corpus = corpus_for(token, slug, Permission.MANAGE)
    for config in body.configurations:
        if isinstance(config, dict) and config.get("corpus"):
            corpus_for(token, str(config["corpus"]), Permission.MANAGE)
    question_set = QuestionSet.objects.filter(corpus=corpus, name=body.question_set).first()
    if question_set is None:
        raise ValidationError(
            {"question_set": f"“{slug}” has no question set “{body.question_set}”."}
        )
    run = evaluation_run_create(
        question_set=question_set, configurations=body.configurations, user=token.user
    )
    return Status(202, run_out(run))


@router.get(
    "/evaluation-runs/{run_id}",
    response={200: RunOut, ERRORS: ErrorOut},
    summary="An evaluation run's progress and summary",
)
def evaluation_run_get(request: HttpRequest, run_id: Id) -> dict[str, Any]:
    token = request_token(request)
    run = (
        EvaluationRun.objects.filter(pk=run_id, corpus__in=token.visible_corpora())
        .select_related("corpus", "question_set")
        .first()
    )
    if run is None:
        raise not_found(f"There is no evaluation run {run_id} that this token can use.")
    corpus_for(token, run.corpus.slug, Permission.MANAGE)
    return run_out(run)

"""Admin: provenance (read-only, filterable, exportable), question sets (edit, import, draft
from feedback), evaluation runs (start one, follow it, read the charts).

Every list is scoped to the corpora the user manages (superusers: all), so a staff member who
manages one corpus sees only its records."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms import formset_factory
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from documents.models import Corpus, Role
from evaluation import charts
from evaluation.models import (
    AnswerProvenance,
    EvaluationResult,
    EvaluationRun,
    ProvenancePassage,
    Question,
    QuestionSet,
    RunStatus,
)
from evaluation.provenance import (
    provenance_export_csv,
    provenance_export_jsonl,
    provenance_export_recorded,
)
from evaluation.questions import (
    question_validate,
    questions_confirm,
    questions_draft_from_feedback,
    questions_import,
)
from evaluation.runs import evaluation_run_create, run_disagreements
from evaluation.summary import COLUMNS, formatted

BAR_METRICS = [
    ("hit_at_1", "hit@1"),
    ("hit_at_5", "hit@5"),
    ("reciprocal_rank", "MRR"),
    ("answer_in_citations", "answer cited"),
    ("citations_valid", "citations valid"),
    ("abstention_correct", "abstention right"),
]


def _managed_corpora(request: HttpRequest) -> QuerySet[Corpus]:
    if request.user.is_superuser:
        return Corpus.objects.all()
    return Corpus.objects.for_user(request.user, Role.MANAGER)


# --- provenance -------------------------------------------------------------------------------


class PassageInline(admin.TabularInline[ProvenancePassage, AnswerProvenance]):
    model = ProvenancePassage
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "role",
        "position",
        "citation_number",
        "document_name",
        "pages",
        "index_version",
        "chunk_ref",
        "chunk_now",
        "score",
        "similarity",
        "text",
        "text_sha256",
    )

    @admin.display(description="Chunk still indexed")
    def chunk_now(self, passage: ProvenancePassage) -> str:
        if passage.chunk_ref is None:
            return "–"  # noqa: RUF001
        return "yes" if passage.chunk_id else "no (re-indexed or deleted; text kept here)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AnswerProvenance)
class AnswerProvenanceAdmin(admin.ModelAdmin[AnswerProvenance]):
    list_display = [
        "created_at",
        "corpus",
        "user",
        "interface",
        "token_label",
        "short_question",
        "strategy",
        "model",
        "grounded",
    ]
    list_filter = [
        ("corpus", admin.RelatedOnlyFieldListFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
        ("token", admin.RelatedOnlyFieldListFilter),
        "interface",
        "strategy",
        "grounded",
        "created_at",
    ]
    date_hierarchy = "created_at"
    search_fields = ["question", "user__username", "token_label", "message__content"]
    list_select_related = ["corpus", "user"]
    inlines = [PassageInline]
    fields = readonly_fields = (
        "message_link",
        "corpus",
        "user",
        "interface",
        "token",
        "token_label",
        "question",
        "answer",
        "grounded",
        "strategy",
        "model",
        "index_backend",
        "index_version",
        "settings",
        "created_at",
    )
    actions = ["export_csv", "export_jsonl"]
    change_list_template = "evaluation/admin/provenance_change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AnswerProvenance]:
        return super().get_queryset(request).filter(corpus__in=_managed_corpora(request))

    @admin.display(description="Question")
    def short_question(self, record: AnswerProvenance) -> str:
        return record.question if len(record.question) <= 80 else record.question[:79] + "…"

    @admin.display(description="Answer")
    def answer(self, record: AnswerProvenance) -> str:
        return record.message.content

    @admin.display(description="Conversation")
    def message_link(self, record: AnswerProvenance) -> str:
        url = reverse("admin:chat_conversation_change", args=[record.message.conversation_id])
        return format_html(
            '<a href="{}">Conversation {}</a>, answer {}',
            url,
            record.message.conversation_id,
            record.message_id,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        return [
            path(
                "export/<str:fmt>/",
                self.admin_site.admin_view(self.export_view),
                name="evaluation_answerprovenance_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponseBase:
        """Everything the list shows with its current filters and search, as a download."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        response = _export(changelist.get_queryset(request), fmt)
        if response.status_code == 200:
            provenance_export_recorded(request=request, fmt=fmt, filters=dict(request.GET.items()))
        return response

    @admin.action(description="Export selected as CSV (one row per passage)")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[AnswerProvenance]) -> Any:
        provenance_export_recorded(request=request, fmt="csv", filters=_selection(queryset))
        return _export(queryset, "csv")

    @admin.action(description="Export selected as JSON lines (one answer per line)")
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet[AnswerProvenance]) -> Any:
        provenance_export_recorded(request=request, fmt="jsonl", filters=_selection(queryset))
        return _export(queryset, "jsonl")


def _selection(queryset: QuerySet[AnswerProvenance]) -> dict[str, Any]:
    return {"selected": list(queryset.values_list("pk", flat=True)[:1000])}


def _export(queryset: QuerySet[AnswerProvenance], fmt: str) -> HttpResponseBase:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if fmt == "csv":
        response = StreamingHttpResponse(
            provenance_export_csv(queryset), content_type="text/csv; charset=utf-8"
        )
    elif fmt == "jsonl":
        response = StreamingHttpResponse(
            provenance_export_jsonl(queryset), content_type="application/jsonl; charset=utf-8"
        )
    else:
        return HttpResponse("Export as csv or jsonl.", status=400, content_type="text/plain")
    response["Content-Disposition"] = f'attachment; filename="provenance-{stamp}.{fmt}"'
    return response


# --- question sets ----------------------------------------------------------------------------


class QuestionForm(forms.ModelForm[Question]):
    expected_documents = forms.CharField(
        required=False,
        help_text="Filenames, separated by |",
        widget=forms.TextInput(attrs={"size": 30}),
    )
    expected_pages = forms.CharField(
        required=False, help_text="Page numbers, separated by |", widget=forms.TextInput()
    )

    class Meta:
        model = Question
        fields = [
            "text",
            "expected_documents",
            "expected_pages",
            "expected_answer",
            "answerable",
            "confirmed",
        ]
        widgets = {
            "text": forms.Textarea(attrs={"rows": 2, "cols": 50}),
            "expected_answer": forms.TextInput(attrs={"size": 25}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["expected_documents"] = " | ".join(self.instance.expected_documents)
            self.initial["expected_pages"] = " | ".join(map(str, self.instance.expected_pages))

    def clean_expected_documents(self) -> list[str]:
        value = self.cleaned_data.get("expected_documents") or ""
        return [part.strip() for part in value.split("|") if part.strip()]

    def clean_expected_pages(self) -> list[int]:
        value = self.cleaned_data.get("expected_pages") or ""
        pages = []
        for part in (p.strip() for p in value.split("|")):
            if not part:
                continue
            if not part.isdigit() or int(part) < 1:
                raise ValidationError(f"{part!r} is not a page number.")
            pages.append(int(part))
        return pages

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        candidate = Question(
            text=data.get("text") or "",
            expected_documents=data.get("expected_documents") or [],
            expected_pages=data.get("expected_pages") or [],
            expected_answer=data.get("expected_answer") or "",
            answerable=bool(data.get("answerable")),
        )
        if data.get("confirmed"):
            try:
                question_validate(candidate)
            except ValidationError as error:
                raise ValidationError(error.messages) from None
        return data


class QuestionInline(admin.TabularInline[Question, QuestionSet]):
    model = Question
    form = QuestionForm
    extra = 3
    fields = [
        "text",
        "expected_documents",
        "expected_pages",
        "expected_answer",
        "answerable",
        "confirmed",
        "origin",
        "feedback_rating",
    ]
    readonly_fields = ["origin", "feedback_rating"]


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV with a header row (question, expected_documents, expected_pages, "
        "expected_answer, answerable; lists separated by |) or JSON lines with the same keys."
    )


@admin.register(QuestionSet)
class QuestionSetAdmin(admin.ModelAdmin[QuestionSet]):
    list_display = ["name", "corpus", "question_count", "draft_count", "last_run", "updated_at"]
    list_filter = [("corpus", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "description"]
    fields = ["corpus", "name", "description"]
    inlines = [QuestionInline]
    change_form_template = "evaluation/admin/question_set_change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[QuestionSet]:
        return super().get_queryset(request).filter(corpus__in=_managed_corpora(request))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "corpus":
            kwargs["queryset"] = _managed_corpora(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["corpus"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: QuestionSet, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        instances = formset.save(commit=False)
        for instance in instances:
            if not instance.pk:
                instance.origin = "manual"
            instance.save()
        for deleted in formset.deleted_objects:
            deleted.delete()

    @admin.display(description="Questions")
    def question_count(self, question_set: QuestionSet) -> int:
        return question_set.questions.confirmed().count()

    @admin.display(description="Drafts")
    def draft_count(self, question_set: QuestionSet) -> int:
        return question_set.questions.filter(confirmed=False).count()

    @admin.display(description="Last run")
    def last_run(self, question_set: QuestionSet) -> str:
        run = question_set.runs.first()
        if run is None:
            return "–"  # noqa: RUF001
        url = reverse("admin:evaluation_evaluationrun_change", args=[run.pk])
        return format_html('<a href="{}">Run {} ({})</a>', url, run.pk, run.get_status_display())

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/import/",
                view(self.import_view),
                name="evaluation_questionset_import",
            ),
            path(
                "<int:pk>/draft-from-feedback/",
                view(self.draft_view),
                name="evaluation_questionset_draft",
            ),
            path("<int:pk>/run/", view(self.run_view), name="evaluation_questionset_run"),
            *super().get_urls(),
        ]

    def _set(self, request: HttpRequest, pk: int) -> QuestionSet:
        question_set = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, question_set):
            raise PermissionDenied
        return question_set

    def _back(self, question_set: QuestionSet) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:evaluation_questionset_change", args=[question_set.pk])
        )

    def import_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        question_set = self._set(request, pk)
        form = ImportForm(request.POST or None, request.FILES or None)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            outcome = questions_import(
                question_set=question_set, data=upload.read(), filename=upload.name
            )
            if not outcome.errors:
                messages.success(request, f"{outcome.created} questions imported.")
                return self._back(question_set)
            errors = outcome.errors
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import questions into “{question_set.name}”",
            "form": form,
            "errors": errors,
            "question_set": question_set,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "evaluation/admin/import.html", context)

    def draft_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        question_set = self._set(request, pk)
        if request.method != "POST":
            return self._back(question_set)
        drafted = questions_draft_from_feedback(question_set=question_set)
        if drafted:
            messages.success(
                request,
                f"{drafted} draft questions from rated answers. Check each one (thumbs up "
                "proposes the cited documents and pages; thumbs down only the question), then "
                "tick Confirmed.",
            )
        else:
            messages.info(request, "No rated answers in this corpus that are not drafted yet.")
        return self._back(question_set)

    def run_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        question_set = self._set(request, pk)
        formset_class = formset_factory(
            ConfigurationForm, extra=1, min_num=1, max_num=6, can_delete=True
        )
        kwargs = {"corpus": question_set.corpus, "corpora": _managed_corpora(request)}
        if request.method == "POST":
            formset = formset_class(request.POST, form_kwargs=kwargs)
            if formset.is_valid():
                configurations = [
                    f.configuration()
                    for f in formset.forms
                    if f not in formset.deleted_forms
                    and (f.has_changed() or f in formset.initial_forms)
                ]
                try:
                    run = evaluation_run_create(
                        question_set=question_set,
                        configurations=configurations,
                        user=request.user,  # type: ignore[arg-type]
                    )
                except ValidationError as error:
                    messages.error(request, " ".join(error.messages))
                else:
                    messages.success(request, f"Run {run.pk} queued.")
                    return HttpResponseRedirect(
                        reverse("admin:evaluation_evaluationrun_change", args=[run.pk])
                    )
        else:
            formset = formset_class(
                form_kwargs=kwargs,
                initial=[{"label": "A", "corpus": question_set.corpus.slug}, {"label": "B"}],
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Evaluate “{question_set.name}”",
            "formset": formset,
            "question_set": question_set,
            "questions": question_set.questions.confirmed().count(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "evaluation/admin/new_run.html", context)


class ConfigurationForm(forms.Form):
    label = forms.CharField(max_length=100, required=False)
    corpus = forms.ChoiceField(help_text="Another corpus holding the same files may be compared.")
    strategy = forms.ChoiceField(required=False)
    top_k = forms.IntegerField(
        required=False, min_value=1, max_value=50, help_text="Empty: as configured."
    )
    rerank = forms.ChoiceField(
        choices=[("", "as configured"), ("on", "on"), ("off", "off")], required=False
    )

    def __init__(self, *args: Any, corpus: Corpus, corpora: QuerySet[Corpus], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["corpus"].choices = [  # type: ignore[attr-defined]
            (c.slug, f"{c.name} ({c.slug}, {c.index_backend})") for c in corpora
        ]
        self.fields["corpus"].initial = corpus.slug
        self.fields["strategy"].choices = [  # type: ignore[attr-defined]
            ("", "the corpus's default"),
            *((key, key) for key in settings.CHAT_STRATEGIES),
        ]

    def configuration(self) -> dict[str, Any]:
        data = self.cleaned_data
        config: dict[str, Any] = {"corpus": data["corpus"]}
        for key in ("label", "strategy", "top_k"):
            if data.get(key):
                config[key] = data[key]
        if data.get("rerank"):
            config["rerank"] = data["rerank"] == "on"
        return config


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin[Question]):
    """All questions across sets: find drafts and confirm them in bulk."""

    form = QuestionForm
    list_display = ["text", "question_set", "answerable", "confirmed", "origin", "feedback_rating"]
    list_filter = [
        "confirmed",
        "origin",
        "answerable",
        ("question_set", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["text", "expected_answer"]
    actions = ["confirm"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Question]:
        return (
            super()
            .get_queryset(request)
            .filter(question_set__corpus__in=_managed_corpora(request))
            .select_related("question_set__corpus")
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request)

    @admin.action(description="Confirm selected drafts")
    def confirm(self, request: HttpRequest, queryset: QuerySet[Question]) -> None:
        confirmed = 0
        for question in queryset:
            try:
                confirmed += questions_confirm(questions=[question])
            except ValidationError as error:
                messages.error(request, f"“{question}”: {' '.join(error.messages)}")
        if confirmed:
            messages.success(request, f"{confirmed} questions confirmed.")


# --- runs -------------------------------------------------------------------------------------


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin[EvaluationRun]):
    list_display = ["__str__", "corpus", "status", "progress", "configuration_labels", "created_at"]
    list_filter = ["status", ("corpus", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["question_set", "corpus"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EvaluationRun]:
        return super().get_queryset(request).filter(corpus__in=_managed_corpora(request))

    @admin.display(description="Progress")
    def progress(self, run: EvaluationRun) -> str:
        return f"{run.progress_done}/{run.progress_total}"

    @admin.display(description="Configurations")
    def configuration_labels(self, run: EvaluationRun) -> str:
        return ", ".join(run.labels)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started from a question set ("Run an evaluation")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        run = get_object_or_404(
            self.get_queryset(request).select_related("question_set"), pk=object_id
        )
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **run_page_context(run),
            "title": str(run),
            "opts": self.model._meta,
            "has_delete_permission": self.has_delete_permission(request, run),
        }
        return TemplateResponse(request, "evaluation/admin/run.html", context)


def run_page_context(run: EvaluationRun) -> dict[str, Any]:
    labels = run.labels
    results = list(run.results.select_related("question", "message"))
    rows = [
        {
            "label": label,
            "cells": [
                formatted(run.summary.get(label, {}).get(key), kind) for key, _, kind in COLUMNS
            ],
            "questions": run.summary.get(label, {}).get("questions", 0),
        }
        for label in labels
    ]
    totals = {
        label: [r.total_ms for r in results if r.configuration == label and r.total_ms is not None]
        for label in labels
    }
    ttfts = {
        label: [
            r.first_token_ms
            for r in results
            if r.configuration == label and r.first_token_ms is not None
        ]
        for label in labels
    }
    history = list(
        EvaluationRun.objects.filter(question_set=run.question_set, status=RunStatus.DONE)
        .order_by("created_at")
        .only("pk", "summary", "configurations", "created_at")
    )[-20:]
    series = list(dict.fromkeys(label for past in history for label in past.labels))
    trend = [
        (
            f"#{past.pk} {past.created_at:%m-%d}",
            {label: past.summary.get(label, {}).get("hit_at_5") for label in past.labels},
        )
        for past in history
    ]
    trend_mrr = [
        (
            f"#{past.pk} {past.created_at:%m-%d}",
            {label: past.summary.get(label, {}).get("reciprocal_rank") for label in past.labels},
        )
        for past in history
    ]
    return {
        "run": run,
        "refresh": run.status in (RunStatus.QUEUED, RunStatus.RUNNING),
        "columns": [title for _, title, _ in COLUMNS],
        "rows": rows,
        "bars": charts.metric_bars(BAR_METRICS, labels, run.summary) if run.summary else None,
        "latency": charts.latency_strips(labels, totals, title="Total time per answer")
        if results
        else None,
        "ttft": charts.latency_strips(labels, ttfts, title="Time to first token")
        if results
        else None,
        "trend": charts.runs_line(trend, series, title="hit@5 across runs")
        if len(history) > 1
        else None,
        "trend_mrr": charts.runs_line(trend_mrr, series, title="MRR across runs")
        if len(history) > 1
        else None,
        "disagreements": run_disagreements(run) if len(labels) > 1 else [],
        "labels": labels,
        "results": sorted(
            results,
            key=lambda r: (
                r.question_id,
                labels.index(r.configuration) if r.configuration in labels else 0,
            ),
        ),
    }


@admin.register(EvaluationResult)
class EvaluationResultAdmin(admin.ModelAdmin[EvaluationResult]):
    list_display = ["run", "configuration", "question", "hit_at_5", "reciprocal_rank", "abstained"]
    list_filter = ["configuration"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return False  # read on the run's page

    def get_queryset(self, request: HttpRequest) -> QuerySet[EvaluationResult]:
        return super().get_queryset(request).filter(run__corpus__in=_managed_corpora(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

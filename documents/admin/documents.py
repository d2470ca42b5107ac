"""Admin of documents (upload, progress, re-ingest, delete) and their page maps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from documents import selectors, services
from documents.admin.corpus_forms import acting_user
from documents.admin.deletion import IndexAwareDeletion
from documents.models import Chunk, Corpus, Document, DocumentStage, DocumentStatus, Page
from documents.parsing import supported_formats_text, upload_accept
from documents.parsing.registry import declarations
from documents.upload_summary import UploadSummary

# Stages that report how far they got; the others show no percentage.
MEASURED_STAGES = frozenset({DocumentStage.EMBEDDING, DocumentStage.OCR})
# The list columns the page's script refreshes in place while documents are processed.
LIVE_COLUMNS = ("status_badge", "reason", "page_count", "chunk_count")
# At most this many ids per status request (a page of the list).
STATUS_BATCH = 200
# Above this many pages the document page links to the paginated page list instead of
# showing every page inline.
PAGE_INLINE_LIMIT = 50


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    corpus = forms.ModelChoiceField(queryset=Corpus.objects.all())
    uploads = MultipleFileField(label="Files", help_text="Select several files at once.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The registered parsers decide what can be picked (documents/parsing/registry.py).
        self.fields["uploads"].widget.attrs["accept"] = upload_accept()


class DocumentTypeFilter(admin.SimpleListFilter):
    """Types by the names people use ("PDF", "Word"), from the parser registry, instead of
    MIME strings; only the types the list holds are offered."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        parsers = set(Document.objects.exclude(parser="").values_list("parser", flat=True))
        types = set(Document.objects.filter(parser="").values_list("content_type", flat=True))
        return [
            (key, declared.name[:1].upper() + declared.name[1:])
            for key, declared in declarations().items()
            if key in parsers or types.intersection(declared.mime_types)
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> QuerySet[Document]:
        declared = declarations().get(self.value() or "")
        if declared is None:
            return queryset
        # A document not parsed yet is known by the type it was uploaded as.
        return queryset.filter(
            Q(parser=self.value()) | Q(parser="", content_type__in=declared.mime_types)
        )


class DocumentChangeList(ChangeList):
    """Reads where each queued document of the page stands in its queue in one query."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        documents = list(self.result_list)
        positions = selectors.documents_queue_positions(
            document_ids=[d.pk for d in documents if d.status == DocumentStatus.QUEUED]
        )
        for document in documents:
            document.queue_position = positions.get(document.pk)  # type: ignore[attr-defined]
        self.result_list = documents


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def _excerpt(text: str, length: int = 300) -> str:
    text = " ".join(text.split())
    return text[:length] + ("…" if len(text) > length else "")


class PageInline(admin.TabularInline[Page, Document]):
    model = Page
    fields = ["number", "label", "excerpt"]
    readonly_fields = ["number", "label", "excerpt"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Page map"

    @admin.display(description="Text")
    def excerpt(self, page: Page) -> str:
        return _excerpt(page.text)


@admin.register(Document)
class DocumentAdmin(IndexAwareDeletion[Document]):
    list_display = [
        "filename",
        "corpus",
        "status_badge",
        "reason",
        "page_count",
        "chunk_count",
        "size_kb",
        "created_at",
    ]
    list_filter = ["corpus", "status", DocumentTypeFilter]
    search_fields = ["filename", "sha256"]
    list_select_related = ["corpus"]
    actions = ["reingest", "retry_failed"]
    readonly_fields = [
        "corpus",
        "filename",
        "original",
        "content_type",
        "size_bytes",
        "sha256",
        "status",
        "stage",
        "progress",
        "error",
        "warning",
        "page_count",
        "page_map",
        "chunk_count",
        "embedding_tokens",
        "parser",
        "remote_file_id",
        "attempts",
        "retries",
        "timings",
        "uploaded_by",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
    ]
    fieldsets = [
        (None, {"fields": ["corpus", "filename", "original", "status", "stage", "progress"]}),
        (
            "Outcome",
            {"fields": ["error", "warning", "page_count", "page_map", "chunk_count", "parser"]},
        ),
        (
            "Details",
            {
                "classes": ["collapse"],
                "fields": [
                    "content_type",
                    "size_bytes",
                    "sha256",
                    "embedding_tokens",
                    "remote_file_id",
                    "attempts",
                    "retries",
                    "timings",
                    "uploaded_by",
                    "created_at",
                    "queued_at",
                    "started_at",
                    "finished_at",
                ],
            },
        ),
    ]

    class Media:
        css = {"all": ["css/admin-documents.css"]}
        js = ["js/admin-documents.js"]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, document: Document) -> str:
        status = DocumentStatus(document.status)
        label = status.label
        if status == DocumentStatus.PROCESSING and document.stage:
            label = f"{label}: {document.get_stage_display()}"
            if document.stage in MEASURED_STAGES:
                label = f"{label} {document.progress:.0%}"
        position = getattr(document, "queue_position", None)
        if status == DocumentStatus.QUEUED and position:
            label = f"{label}: next" if position == 1 else f"{label}: {_ordinal(position)} in line"
        if status == DocumentStatus.READY and document.warning:
            label = f"{label} ⚠"
        return format_html(
            '<span class="doc-badge doc-badge-{}" title="{}" data-final="{}">{}</span>',
            status.value,
            document.error or document.warning,
            "true" if status.is_final else "false",
            label,
        )

    @admin.display(description="Reason or warning")
    def reason(self, document: Document) -> str:
        text = " ".join((document.error or document.warning).split())
        return text if len(text) <= 160 else text[:159] + "…"

    @admin.display(description="Size (KB)", ordering="size_bytes")
    def size_kb(self, document: Document) -> int:
        return round(document.size_bytes / 1024)

    @admin.display(description="Original")
    def original(self, document: Document) -> SafeString | str:
        if not document.file:
            return "No original (adopted from OpenAI, which would not hand the file out)"
        try:
            url = reverse(
                "documents:download",
                kwargs={"slug": document.corpus.slug, "document_id": document.pk},
            )
        except NoReverseMatch:
            return document.file.name or ""
        return format_html('<a href="{}">{}</a>', url, document.filename)

    @admin.display(description="Pages")
    def page_map(self, document: Document) -> SafeString | str:
        count = document.pages.count()
        if not count:
            return "No page map (citations point to the document, not the page)"
        url = reverse("admin:documents_page_changelist")
        return format_html(
            '<a href="{}?document__id__exact={}">{} with their text</a>',
            url,
            document.pk,
            f"All {count} pages" if count > 1 else "The page",
        )

    def get_inlines(self, request: HttpRequest, obj: Document | None) -> list[Any]:
        # A long document's page map is browsed on the paginated page list instead.
        if obj is not None and obj.pages.count() <= PAGE_INLINE_LIMIT:
            return [PageInline]
        return []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads go through the upload view below

    def get_urls(self) -> list[Any]:
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="documents_document_upload",
            ),
            path(
                "status/",
                self.admin_site.admin_view(self.status_view),
                name="documents_document_status",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "upload_url": reverse("admin:documents_document_upload"),
            # Progress is live: the page's script refreshes the rows still being processed.
            "status_url": reverse("admin:documents_document_status"),
        }
        return super().changelist_view(request, extra_context)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return DocumentChangeList

    def status_view(self, request: HttpRequest) -> JsonResponse:
        """The live columns of the listed documents (`?ids=1,2,3`), rendered as the list
        renders them, for the list's script to put in place: the rows stay, and so do the
        boxes the admin ticked."""
        if not self.has_view_permission(request):
            return JsonResponse({"error": "Not allowed."}, status=403)
        ids = [int(part) for part in request.GET.get("ids", "").split(",") if part.isdigit()]
        documents = list(Document.objects.filter(pk__in=ids[:STATUS_BATCH]))
        positions = selectors.documents_queue_positions(
            document_ids=[d.pk for d in documents if d.status == DocumentStatus.QUEUED]
        )
        empty = self.get_empty_value_display()
        rows = []
        for document in documents:
            document.queue_position = positions.get(document.pk)  # type: ignore[attr-defined]
            cells = {
                "status_badge": str(self.status_badge(document)),
                "reason": str(display_for_value(self.reason(document), empty)),
                "page_count": str(display_for_value(document.page_count, empty)),
                "chunk_count": str(display_for_value(document.chunk_count, empty)),
            }
            rows.append({"id": document.pk, "final": document.is_final, "cells": cells})
        return JsonResponse({"rows": rows})

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            corpus = form.cleaned_data["corpus"]
            summary = UploadSummary()
            for upload in form.cleaned_data["uploads"]:
                try:
                    outcome = services.document_upload(
                        corpus=corpus,
                        file=upload,
                        filename=upload.name,
                        uploaded_by=acting_user(request),
                        content_type=upload.content_type or "",
                    )
                except ValidationError as error:
                    summary.refused.append(" ".join(error.messages))
                    continue
                if outcome.duplicate:
                    existing = outcome.document
                    summary.duplicates.append(
                        f"{upload.name} (as {existing.filename}, "
                        f"{existing.get_status_display().lower()})"
                    )
                else:
                    summary.queued.append(outcome.document.filename)
            summary.tell(request, where=str(corpus))
            url = reverse("admin:documents_document_changelist")
            return HttpResponseRedirect(f"{url}?corpus__id__exact={corpus.pk}")
        initial_corpus = request.GET.get("corpus")
        if initial_corpus and not form.is_bound:
            form.fields["corpus"].initial = get_object_or_404(Corpus, pk=initial_corpus)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "formats": supported_formats_text(),
            "title": "Upload documents",
        }
        return TemplateResponse(request, "admin/documents/document/upload.html", context)

    def reingest(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        self._requeue(request, list(queryset), "documents")

    @admin.action(description="Retry failed documents")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        self._requeue(
            request, list(queryset.filter(status=DocumentStatus.FAILED)), "failed documents"
        )

    def _requeue(self, request: HttpRequest, documents: list[Document], what: str) -> None:
        queued = sum(
            services.document_reingest(document=document).status == DocumentStatus.QUEUED
            for document in documents
        )
        messages.success(request, f"Queued {queued} {what} again.")
        if busy := len(documents) - queued:
            messages.warning(
                request, f"{busy} documents are being processed right now and were left alone."
            )

    def delete_one(self, obj: Document) -> None:
        services.document_delete(document=obj)

    def get_deleted_objects(
        self, objs: Sequence[Document] | QuerySet[Document], request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        # Django would list every page and passage (and ask for delete permission on the
        # read-only page list); the counts say what goes.
        documents = list(objs)
        counts = {
            "documents": len(documents),
            "pages": Page.objects.filter(document__in=documents).count(),
            "passages": Chunk.objects.filter(document__in=documents).count(),
        }
        return [str(document) for document in documents], counts, set(), []


@admin.register(Page)
class PageAdmin(admin.ModelAdmin[Page]):
    """The page map of a document, read-only and paginated (linked from the document)."""

    list_display = ["number", "label", "document", "excerpt"]
    list_display_links = ["number"]
    list_select_related = ["document"]
    list_per_page = 50
    search_fields = ["text", "label"]
    ordering = ["document", "number"]
    show_full_result_count = False
    fields = readonly_fields = ("document", "number", "label", "char_start", "text")

    @admin.display(description="Text")
    def excerpt(self, page: Page) -> str:
        return _excerpt(page.text, 200)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return False  # reached from a document, not listed on the admin index

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from documents import services
from documents.models import Corpus, Document, DocumentStatus, Page

STATUS_COLOURS = {
    DocumentStatus.QUEUED: "#6b7280",
    DocumentStatus.PROCESSING: "#2563eb",
    DocumentStatus.READY: "#15803d",
    DocumentStatus.FAILED: "#b91c1c",
}


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


class CorpusForm(forms.ModelForm[Corpus]):
    class Meta:
        model = Corpus
        fields = [
            "name",
            "slug",
            "description",
            "index_backend",
            "embedding_model",
            "chunk_size_tokens",
            "chunk_overlap_tokens",
            "text_search_config",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            services.corpus_validate_settings(
                index_backend=data.get("index_backend", ""),
                embedding_model=data.get("embedding_model", ""),
                chunk_size_tokens=data.get("chunk_size_tokens") or 0,
                chunk_overlap_tokens=data.get("chunk_overlap_tokens") or 0,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return data


@admin.register(Corpus)
class CorpusAdmin(admin.ModelAdmin[Corpus]):
    form = CorpusForm
    list_display = ["name", "slug", "index_backend", "embedding_model", "documents_by_status"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Corpus]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                **{
                    f"n_{status}": Count("documents", filter=Q(documents__status=status))
                    for status in DocumentStatus.values
                }
            )
        )

    @admin.display(description="Documents")
    def documents_by_status(self, corpus: Corpus) -> str:
        parts = [
            f"{getattr(corpus, f'n_{status}')} {label.lower()}"
            for status, label in DocumentStatus.choices
            if getattr(corpus, f"n_{status}", 0)
        ]
        return ", ".join(parts) or "none"

    def get_readonly_fields(self, request: HttpRequest, obj: Corpus | None = None) -> list[str]:
        # Changing how an existing corpus is indexed means re-indexing it, not editing a field.
        return ["index_backend", "embedding_model"] if obj else []

    def save_model(self, request: HttpRequest, obj: Corpus, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.corpus_create(
            name=obj.name,
            slug=obj.slug,
            description=obj.description,
            index_backend=obj.index_backend,
            embedding_model=obj.embedding_model,
            chunk_size_tokens=obj.chunk_size_tokens,
            chunk_overlap_tokens=obj.chunk_overlap_tokens,
            text_search_config=obj.text_search_config,
            created_by=request.user,  # type: ignore[arg-type]
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Corpus) -> None:
        services.corpus_delete(corpus=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Corpus]) -> None:
        for corpus in queryset:
            services.corpus_delete(corpus=corpus)


class PageInline(admin.TabularInline[Page, Document]):
    model = Page
    fields = ["number", "label", "excerpt"]
    readonly_fields = ["number", "label", "excerpt"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="Text")
    def excerpt(self, page: Page) -> str:
        text = " ".join(page.text.split())
        return text[:300] + ("…" if len(text) > 300 else "")


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin[Document]):
    list_display = [
        "filename",
        "corpus",
        "status_badge",
        "page_count",
        "chunk_count",
        "size_kb",
        "created_at",
    ]
    list_filter = ["corpus", "status", "content_type"]
    search_fields = ["filename", "sha256"]
    list_select_related = ["corpus"]
    actions = ["reingest", "retry_failed"]
    inlines = [PageInline]
    readonly_fields = [
        "corpus",
        "filename",
        "file",
        "content_type",
        "size_bytes",
        "sha256",
        "status",
        "stage",
        "progress",
        "error",
        "warning",
        "page_count",
        "chunk_count",
        "embedding_tokens",
        "parser",
        "attempts",
        "timings",
        "uploaded_by",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
    ]
    fieldsets = [
        (None, {"fields": ["corpus", "filename", "file", "status", "stage", "progress"]}),
        ("Outcome", {"fields": ["error", "warning", "page_count", "chunk_count", "parser"]}),
        (
            "Details",
            {
                "classes": ["collapse"],
                "fields": [
                    "content_type",
                    "size_bytes",
                    "sha256",
                    "embedding_tokens",
                    "attempts",
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

    @admin.display(description="Status", ordering="status")
    def status_badge(self, document: Document) -> str:
        label = DocumentStatus(document.status).label
        if document.status == DocumentStatus.PROCESSING and document.stage:
            label = f"{label}: {document.get_stage_display()} {document.progress:.0%}"
        return format_html(
            '<span style="color:#fff;background:{};padding:2px 8px;border-radius:9px" '
            'title="{}">{}</span>',
            STATUS_COLOURS[DocumentStatus(document.status)],
            document.error or document.warning,
            label,
        )

    @admin.display(description="Size (KB)", ordering="size_bytes")
    def size_kb(self, document: Document) -> int:
        return round(document.size_bytes / 1024)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads go through the upload view below

    def get_urls(self) -> list[Any]:
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="documents_document_upload",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "upload_url": reverse("admin:documents_document_upload"),
            # Progress is live: refresh while anything is still being processed.
            "auto_refresh": Document.objects.in_progress().exists(),
        }
        return super().changelist_view(request, extra_context)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            corpus = form.cleaned_data["corpus"]
            for upload in form.cleaned_data["uploads"]:
                try:
                    outcome = services.document_upload(
                        corpus=corpus,
                        file=upload,
                        filename=upload.name,
                        uploaded_by=request.user,  # type: ignore[arg-type]
                        content_type=upload.content_type or "",
                    )
                except ValidationError as error:
                    messages.error(request, f"{upload.name}: {' '.join(error.messages)}")
                    continue
                if outcome.duplicate:
                    messages.warning(
                        request,
                        f"{upload.name}: already in {corpus} as {outcome.document.filename} "
                        f"({outcome.document.get_status_display().lower()}); not added again.",
                    )
                else:
                    messages.success(request, f"{upload.name}: queued for processing.")
            url = reverse("admin:documents_document_changelist")
            return HttpResponseRedirect(f"{url}?corpus__id__exact={corpus.pk}")
        initial_corpus = request.GET.get("corpus")
        if initial_corpus and not form.is_bound:
            form.fields["corpus"].initial = get_object_or_404(Corpus, pk=initial_corpus)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Upload documents",
        }
        return TemplateResponse(request, "admin/documents/document/upload.html", context)

    @admin.action(description="Re-ingest selected documents")
    def reingest(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            services.document_reingest(document=document)
        messages.success(request, f"Queued {queryset.count()} documents again.")

    @admin.action(description="Retry failed documents")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        failed = queryset.filter(status=DocumentStatus.FAILED)
        count = failed.count()
        for document in failed:
            services.document_reingest(document=document)
        messages.success(request, f"Queued {count} failed documents again.")

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        services.document_delete(document=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            services.document_delete(document=document)

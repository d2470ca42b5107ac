"""Admin of corpora: settings, members, re-indexing, adoption of an OpenAI vector store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from documents import services
from documents.admin.corpus_forms import (
    INDEX_FIELDS,
    AdoptForm,
    CorpusForm,
    CorpusMembershipInline,
    CorpusReindexInline,
    acting_user,
    reindexes_locally,
)
from documents.admin.deletion import IndexAwareDeletion
from documents.backends.base import IndexingError
from documents.models import (
    Chunk,
    Corpus,
    CorpusMembership,
    CorpusReindex,
    Document,
    DocumentStatus,
    Page,
)
from documents.services import reindexing, remote


@admin.register(Corpus)
class CorpusAdmin(IndexAwareDeletion[Corpus]):
    form = CorpusForm
    list_display = [
        "name",
        "slug",
        "index_backend",
        "embedding_model",
        "documents_by_status",
        "index_state",
    ]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [CorpusMembershipInline, CorpusReindexInline]
    actions = ["refresh_remote_usage", "reconcile_remote", "recreate_missing_store"]
    # Fields a subclass adds to the "Corpus" fieldset (the chat app adds the answer strategy).
    answering_fields: Sequence[str] = ()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Corpus]:
        active = CorpusReindex.objects.active()
        return (
            super()
            .get_queryset(request)
            .annotate(
                **{
                    f"n_{status}": Count("documents", filter=Q(documents__status=status))
                    for status in DocumentStatus.values
                }
            )
            .prefetch_related(Prefetch("reindexes", queryset=active, to_attr="active_reindexes"))
        )

    # --- displays -----------------------------------------------------------------------

    @admin.display(description="Documents")
    def documents_by_status(self, corpus: Corpus) -> SafeString | str:
        url = reverse("admin:documents_document_changelist")
        parts = [
            (f"{url}?corpus__id__exact={corpus.pk}&status__exact={status}", count, label.lower())
            for status, label in DocumentStatus.choices
            if (count := getattr(corpus, f"n_{status}", 0))
        ]
        if not parts:
            return "none"
        return format_html_join(", ", '<a href="{}">{} {}</a>', parts)

    @admin.display(description="Index")
    def index_state(self, corpus: Corpus) -> str:
        """The index version and, while one runs, the re-index's progress."""
        if not reindexes_locally(corpus):
            return "at OpenAI"
        active = self._active_reindex(corpus)
        state = f"version {corpus.index_version}"
        if active is not None:
            state += f"; re-indexing to version {active.target_version}: {active.summary.lower()}"
        return state

    @admin.display(description="Re-indexing")
    def reindex_progress(self, corpus: Corpus) -> str:
        active = self._active_reindex(corpus)
        if active is None:
            return "Not running. Change the embedding model or chunking settings to start one."
        return f"{active.summary} ({active.settings_label}, version {active.target_version})"

    @admin.display(description="OpenAI storage")
    def remote_usage(self, corpus: Corpus) -> str:
        if corpus.remote_usage_bytes is None:
            return "not read yet (updated after each ingestion or deletion)"
        when = corpus.remote_usage_updated_at
        return f"{filesizeformat(corpus.remote_usage_bytes)}" + (
            f", as of {when:%Y-%m-%d %H:%M} UTC" if when else ""
        )

    def _active_reindex(self, corpus: Corpus) -> CorpusReindex | None:
        prefetched: list[CorpusReindex] | None = getattr(corpus, "active_reindexes", None)
        if prefetched is not None:
            return prefetched[0] if prefetched else None
        return CorpusReindex.objects.active().filter(corpus=corpus).first()

    # --- form layout ----------------------------------------------------------------------

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {
            "index_backend": settings.DEFAULT_INDEX_BACKEND,
            "embedding_model": settings.DEFAULT_EMBEDDING_MODEL,
            **super().get_changeform_initial_data(request),
        }

    def get_fieldsets(self, request: HttpRequest, obj: Corpus | None = None) -> Any:
        main = ["name", "slug", "description", "index_backend", *self.answering_fields]
        if obj is None:
            return [
                (None, {"fields": main}),
                ("Indexing", {"fields": [*INDEX_FIELDS, "text_search_config"]}),
            ]
        main.append("documents_by_status")
        if reindexes_locally(obj):
            indexing = {
                "fields": [
                    *INDEX_FIELDS,
                    "text_search_config",
                    "index_version",
                    "reindex_progress",
                ],
                "description": "Saving a new embedding model or chunk setting starts a "
                "re-index in the background: every document is split and embedded again "
                "while the current index keeps answering, then the corpus switches over.",
            }
        else:
            indexing = {
                "fields": [*INDEX_FIELDS, "vector_store_id", "remote_usage"],
                "description": "OpenAI splits and embeds the documents of this corpus itself; "
                "the embedding model and chunk settings here do not apply to it.",
            }
        return [(None, {"fields": main}), ("Indexing", indexing)]

    def get_readonly_fields(self, request: HttpRequest, obj: Corpus | None = None) -> list[str]:
        if obj is None:
            return []
        fixed = ["index_backend", "text_search_config", "documents_by_status"]
        if reindexes_locally(obj):
            return [*fixed, "index_version", "reindex_progress"]
        return [*fixed, *INDEX_FIELDS, "vector_store_id", "remote_usage"]

    def get_inlines(self, request: HttpRequest, obj: Corpus | None) -> list[Any]:
        if obj is None or not reindexes_locally(obj):
            return [CorpusMembershipInline]
        return [CorpusMembershipInline, CorpusReindexInline]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        active = CorpusReindex.objects.active().filter(corpus_id=object_id).exists()
        extra_context = {**(extra_context or {}), "auto_refresh": active}
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "adopt_url": reverse("admin:documents_corpus_adopt"),
            "auto_refresh": CorpusReindex.objects.active().exists(),
        }
        return super().changelist_view(request, extra_context)

    # --- saving -----------------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Corpus, form: Any, change: bool) -> None:
        if change:
            self._save_change(request, obj, form)
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
            created_by=acting_user(request),
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def _save_change(self, request: HttpRequest, obj: Corpus, form: Any) -> None:
        """Index settings are never edited in place: the corpus keeps them until a re-index
        built with the new ones replaces its index."""
        wanted = {field: getattr(obj, field) for field in INDEX_FIELDS}
        stored = Corpus.objects.values(*INDEX_FIELDS).get(pk=obj.pk)
        for field in INDEX_FIELDS:
            setattr(obj, field, stored[field])
        # Only what the form edits: workers change the index version, the vector store id and
        # usage figures of this row meanwhile.
        edited = [name for name in form.fields if name not in INDEX_FIELDS]
        obj.save(update_fields=[*edited, "updated_at"])
        if wanted == stored:
            return
        same_chunking = all(wanted[f] == stored[f] for f in INDEX_FIELDS if f != "embedding_model")
        if same_chunking and reindexing.corpus_embedding_model_swap(
            corpus=obj, embedding_model=wanted["embedding_model"]
        ):
            messages.info(
                request,
                f"“{obj}” now uses {obj.embedding_model}; its vectors are the same as "
                "before, so nothing was re-embedded.",
            )
            return
        try:
            reindex = reindexing.corpus_reindex_start(
                corpus=obj, started_by=acting_user(request), **wanted
            )
        except ValidationError as error:
            messages.error(request, f"Not re-indexed: {' '.join(error.messages)}")
            return
        messages.info(
            request,
            f"Re-indexing “{obj}” in the background with {reindex.settings_label}. The "
            "current index keeps answering until the new one is complete; this page shows "
            "the progress.",
        )

    def delete_one(self, obj: Corpus) -> None:
        services.corpus_delete(corpus=obj)

    def get_deleted_objects(
        self, objs: Sequence[Corpus] | QuerySet[Corpus], request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        # Django would list every document, page and passage; counts are what helps here.
        corpora = list(objs)
        documents = Document.objects.filter(corpus__in=corpora)
        counts = {
            "corpora": len(corpora),
            "documents": documents.count(),
            "pages": Page.objects.filter(document__in=documents).count(),
            "passages": Chunk.objects.filter(corpus__in=corpora).count(),
            "memberships": CorpusMembership.objects.filter(corpus__in=corpora).count(),
        }
        return [str(corpus) for corpus in corpora], counts, set(), []

    # --- actions and extra views --------------------------------------------------------

    @admin.action(description="Refresh OpenAI storage usage")
    def refresh_remote_usage(self, request: HttpRequest, queryset: QuerySet[Corpus]) -> None:
        for corpus in queryset:
            usage = services.corpus_refresh_remote_usage(corpus=corpus)
            if usage is None:
                messages.warning(request, f"{corpus}: no OpenAI vector store usage to read.")
            else:
                messages.success(request, f"{corpus}: {filesizeformat(usage)} at OpenAI.")

    @admin.action(description="Remove OpenAI files no document references")
    def reconcile_remote(self, request: HttpRequest, queryset: QuerySet[Corpus]) -> None:
        for corpus in queryset:
            try:
                report = remote.corpus_reconcile_remote(corpus=corpus, recreate_missing=False)
            except (IndexingError, ValidationError) as error:
                messages.error(request, f"{corpus}: not checked: {' '.join(_messages(error))}")
                continue
            level = messages.WARNING if report.store_missing else messages.SUCCESS
            messages.add_message(request, level, f"{corpus}: {report.summary()}")

    @admin.action(description="Recreate missing OpenAI vector stores")
    def recreate_missing_store(self, request: HttpRequest, queryset: QuerySet[Corpus]) -> None:
        for corpus in queryset:
            try:
                missing = remote.corpus_remote_store_missing(corpus=corpus)
            except (IndexingError, ValidationError) as error:
                messages.error(request, f"{corpus}: not checked: {' '.join(_messages(error))}")
                continue
            if not missing:
                messages.info(request, f"{corpus}: its vector store exists; nothing to do.")
                continue
            queued = remote.corpus_recreate_remote_store(corpus=corpus)
            messages.success(
                request,
                f"{corpus}: a new vector store is being built; {queued} documents queued to "
                "upload again from their stored originals.",
            )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "adopt/",
                self.admin_site.admin_view(self.adopt_view),
                name="documents_corpus_adopt",
            ),
            *super().get_urls(),
        ]

    def adopt_view(self, request: HttpRequest) -> HttpResponse:
        """Make a corpus of an existing OpenAI vector store."""
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        form = AdoptForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.corpus_adopt_vector_store(
                    vector_store_id=form.cleaned_data["vector_store_id"],
                    name=form.cleaned_data["name"],
                    slug=form.cleaned_data["slug"] or None,
                    created_by=acting_user(request),
                )
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                self.log_addition(request, result.corpus, "Adopted an OpenAI vector store.")
                message = (
                    f"Adopted vector store {result.corpus.vector_store_id} as “{result.corpus}”: "
                    f"imported {result.imported} documents, skipped {len(result.skipped)}."
                )
                level = messages.WARNING if result.skipped else messages.SUCCESS
                messages.add_message(request, level, message)
                for filename, reason in result.skipped:
                    messages.warning(request, f"Skipped {filename}: {reason}")
                url = reverse("admin:documents_corpus_change", args=[result.corpus.pk])
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Adopt an OpenAI vector store",
        }
        return TemplateResponse(request, "admin/documents/corpus/adopt.html", context)


def _messages(error: Exception) -> list[str]:
    return list(error.messages) if isinstance(error, ValidationError) else [str(error)]

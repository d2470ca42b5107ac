from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from audit import services
from audit.models import Action, AuditEvent

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest
    from django.urls import URLPattern


class ActionFilter(admin.SimpleListFilter):
    title = "event"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(action.value, str(action.label)) for action in Action]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> Any:
        value = self.value()
        return queryset.filter(action=value) if value else queryset


class CorpusFilter(admin.SimpleListFilter):
    title = "corpus"
    parameter_name = "corpus"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        from documents.models import Corpus

        return [(str(pk), name) for pk, name in Corpus.objects.values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> Any:
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(corpus_id=int(value))


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """Read-only: events are never added, changed or deleted here."""

    list_display = (
        "occurred_at",
        "action_display",
        "actor_label",
        "target_type",
        "target_label",
        "channel",
        "client_address",
    )
    list_filter = (ActionFilter, "channel", "target_type", CorpusFilter, "occurred_at")
    search_fields = ("actor_label", "target_label", "target_id", "client_address", "user_agent")
    date_hierarchy = "occurred_at"
    list_per_page = 100
    show_full_result_count = False
    actions = ["export_selected"]
    readonly_fields = tuple(field.name for field in AuditEvent._meta.fields)
    fields = readonly_fields

    @admin.display(description="event", ordering="action")
    def action_display(self, event: AuditEvent) -> str:
        return event.action_label

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="audit_auditevent_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """Every event the change list shows with the same filters and search, as JSON lines."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return self._export(request, changelist.get_queryset(request))

    @admin.action(description="Export selected events as JSON lines", permissions=["view"])
    def export_selected(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent]
    ) -> StreamingHttpResponse:
        return self._export(request, queryset)

    def _export(self, request: HttpRequest, events: QuerySet[AuditEvent]) -> StreamingHttpResponse:
        lines = services.audit_export_lines(events=events, request=request)
        # Produce the first line now, so that the export is recorded even if the download is
        # never read, and an error is a 500 rather than a truncated file.
        first = next(lines, "")
        response = StreamingHttpResponse(
            _chain(first, lines), content_type="application/x-ndjson; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="docent-audit-{stamp}.jsonl"'
        response["Cache-Control"] = "no-store"
        return response


def _chain(first: str, rest: Any) -> Any:
    if first:
        yield first
    yield from rest

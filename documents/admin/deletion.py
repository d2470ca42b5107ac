"""Deleting through a service that first removes the object from its index, which may be out
of reach (an OpenAI outage): the admin then says why and nothing is deleted, instead of a 500."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from documents.backends.base import IndexingError

M = TypeVar("M", bound=Model)


class IndexAwareDeletion(admin.ModelAdmin[M]):
    """`delete_one` is the service call; the rest of the admin's delete flow stays Django's."""

    def delete_one(self, obj: M) -> None:
        raise NotImplementedError

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            # Django runs this in a transaction: a failed delete also takes its log entry back.
            return super().delete_view(request, object_id, extra_context)
        except IndexingError as error:
            messages.error(request, f"Not deleted: {error}")
            opts = self.model._meta
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
            return HttpResponseRedirect(url)

    def delete_model(self, request: HttpRequest, obj: M) -> None:
        self.delete_one(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[M]) -> None:
        for obj in queryset:
            try:
                self.delete_one(obj)
            except IndexingError as error:
                messages.error(request, f"{obj} was not deleted: {error}")

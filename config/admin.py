from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path


class DocentAdminSite(admin.AdminSite):
    site_header = "Docent administration"
    site_title = "Docent admin"

    def get_urls(self) -> list[Any]:
        return [
            path("usage/", self.admin_view(self.usage_view), name="usage"),
            *super().get_urls(),
        ]

    def usage_view(self, request: HttpRequest) -> HttpResponse:
        from chat.admin import usage_page

        return usage_page(request, context=self.each_context(request))

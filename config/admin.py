from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse


class DocentAdminSite(admin.AdminSite):
    site_header = "Docent administration"
    site_title = "Docent admin"

    def get_urls(self) -> list[Any]:
        return [
            path("usage/", self.admin_view(self.usage_view), name="usage"),
            *super().get_urls(),
        ]

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        from config import sso

        # Without local passwords the admin signs in through single sign-on too.
        if not sso.local_passwords() and not request.user.is_authenticated:
            return redirect(sso.sso_start_url(request.GET.get("next") or reverse("admin:index")))
        return super().login(request, extra_context)

    def usage_view(self, request: HttpRequest) -> HttpResponse:
        from chat.admin import usage_page

        return usage_page(request, context=self.each_context(request))

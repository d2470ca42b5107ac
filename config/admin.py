from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse

# Mail backends that deliver nothing: password-reset links end up in a log, a file or memory.
UNDELIVERED_MAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend": "printed to the web server's log",
    "django.core.mail.backends.filebased.EmailBackend": "written to files on the server",
    "django.core.mail.backends.dummy.EmailBackend": "thrown away",
    "django.core.mail.backends.locmem.EmailBackend": "kept in memory",
}


def mail_warning() -> str:
    """Why staff would not receive password-reset mail, or "" when mail is sent."""
    from django.conf import settings

    mailers = getattr(settings, "MAILERS", None)
    backend = mailers["default"]["BACKEND"] if mailers else settings.EMAIL_BACKEND
    fate = UNDELIVERED_MAIL_BACKENDS.get(backend)
    if fate is None:
        return ""
    return (
        f"Mail is not configured: password-reset messages are {fate}, not sent. Set "
        "EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST, EMAIL_PORT, "
        "EMAIL_HOST_USER, EMAIL_HOST_PASSWORD and DEFAULT_FROM_EMAIL (see the README, "
        "“Mail”)."
    )


class DocentAdminSite(admin.AdminSite):
    site_header = "Docent administration"
    site_title = "Docent admin"

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        context["mail_warning"] = mail_warning() if request.user.is_staff else ""
        return context

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

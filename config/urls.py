from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from api import openai_compat, rest
from config import sso
from config.views import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health, name="health"),
    # Browsers and crawlers ask for /favicon.ico whatever the page links to.
    path(
        "favicon.ico",
        RedirectView.as_view(url=f"{settings.STATIC_URL}img/favicon.svg", permanent=True),
    ),
    # Sign in, sign out, password change and reset (templates in templates/registration/).
    # Django's sign-in, and the password pages, aware of LOCAL_PASSWORDS (config/sso.py).
    path("accounts/login/", sso.LoginView.as_view(), name="login"),
    *[
        path(f"accounts/{route}", sso.passwords_only(view.as_view()), name=name)
        for route, view, name in (
            ("password_change/", auth_views.PasswordChangeView, "password_change"),
            ("password_reset/", auth_views.PasswordResetView, "password_reset"),
            (
                "reset/<uidb64>/<token>/",
                auth_views.PasswordResetConfirmView,
                "password_reset_confirm",
            ),
        )
    ],
    path("accounts/", include("django.contrib.auth.urls")),
    # Single sign-on: /oidc/authenticate/ (start) and /oidc/callback/ (the provider's redirect).
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("", include("documents.urls")),
    path("", include("chat.urls")),
    path("", include("evaluation.urls")),
    # The token pages come before the API so that /api/tokens/ is not an API path.
    path("", include("api.urls")),
    path("api/", rest.api_root),
    path("v1/", openai_compat.unknown_endpoint),
    path("api/", rest.urls),
    path("v1/", openai_compat.urls),
    # Anything else under the APIs answers in their error shapes, not with an HTML page.
    re_path(r"^api/(?P<rest>.*)$", rest.unknown_endpoint),
    re_path(r"^v1/(?P<rest>.*)$", openai_compat.unknown_endpoint),
]

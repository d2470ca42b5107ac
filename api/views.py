"""The web page where people create and revoke their own API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from api import services
from api.forms import TokenCreateForm
from api.models import ApiToken
from api.scopes import scopes_describe

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    class AuthenticatedRequest(HttpRequest):
        user: User

else:
    AuthenticatedRequest = HttpRequest


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST or None, user=request.user)
    created: tuple[ApiToken, str] | None = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.scopes(),
                expires_in_days=form.cleaned_data["expires_in_days"],
                created_by=request.user,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form = TokenCreateForm(user=request.user)
    tokens = [
        (token, scopes_describe(token.scope_list))
        for token in ApiToken.objects.for_user(request.user)
    ]
    response = render(
        request,
        "api/token_list.html",
        {
            "form": form,
            "tokens": tokens,
            "created": created[0] if created else None,
            # Shown in this response only; it is stored nowhere.
            "plaintext": created[1] if created else "",
            "api_url": request.build_absolute_uri("/api/"),
            "openai_url": request.build_absolute_uri("/v1"),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: AuthenticatedRequest, token_id: int) -> HttpResponseBase:
    token = get_object_or_404(ApiToken.objects.for_user(request.user), pk=token_id)
    services.token_revoke(token=token)
    messages.success(request, f"Revoked the token “{token.name}” ({token.display_prefix}).")
    return redirect("api:tokens")

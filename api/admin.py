from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from api import services
from api.models import ApiConversation, ApiToken, TokenState
from api.scopes import DEFAULT_SCOPES, scopes_as_text, scopes_describe, scopes_parse


class ScopesField(forms.CharField):
    """Scopes edited one per line in the command-line form (``slug:query,ingest``)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return str(value)
        if isinstance(value, list):
            return "\n".join(scopes_as_text(value))
        return ""

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        try:
            return services.scopes_check(
                scopes_parse(line for line in text.splitlines() if line.strip())
            )
        except ValidationError as error:
            raise ValidationError(error.messages) from error


SCOPES_HELP = (
    "One per line: <code>slug:query,ingest</code>, or <code>*:query</code> for every corpus the "
    "user can read. Permissions: query, ingest, manage; a token never does more than its user's "
    "role allows."
)


class TokenAddForm(forms.ModelForm[ApiToken]):
    scopes = ScopesField(help_text=SCOPES_HELP, initial=DEFAULT_SCOPES)
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Empty: never expires."
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        active = get_user_model().objects.filter(is_active=True)
        self.fields["user"].queryset = active  # type: ignore[attr-defined]


class TokenChangeForm(forms.ModelForm[ApiToken]):
    scopes = ScopesField(help_text=SCOPES_HELP)

    class Meta:
        model = ApiToken
        fields = ["name", "scopes", "expires_at"]


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(TokenState.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        if self.value():
            return queryset.filter(pk__in=ApiToken.objects.in_state(str(self.value())))
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = [
        "name",
        "user",
        "display_prefix",
        "scopes_summary",
        "state",
        "expires_at",
        "last_used_at",
        "created_at",
    ]
    list_filter = [StateFilter, "created_at", "expires_at"]
    search_fields = ["name", "prefix", "user__username", "user__email"]
    list_select_related = ["user"]
    actions = ["revoke"]
    # The key hash is never shown; `exclude` keeps it out of every form.
    exclude = ["key_hash"]
    readonly_fields = [
        "user",
        "display_prefix",
        "state",
        "usage",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    def get_form(
        self, request: HttpRequest, obj: ApiToken | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[ApiToken]]:
        kwargs["form"] = TokenChangeForm if obj is not None else TokenAddForm
        kwargs["fields"] = None
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        if obj is None:
            return [(None, {"fields": ["user", "name", "scopes", "expires_in_days"]})]
        return [
            (None, {"fields": ["name", "user", "display_prefix", "state", "scopes", "expires_at"]}),
            (
                "Use",
                {"fields": ["usage", "last_used_at", "created_at", "created_by", "revoked_at"]},
            ),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            services.token_update(
                token=obj,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.cleaned_data["expires_at"],
            )
            return
        token, plaintext = services.token_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_in_days=form.cleaned_data.get("expires_in_days"),
            created_by=request.user,  # type: ignore[arg-type]
        )
        # The admin goes on with `obj` (history entry, redirect): make it the saved token.
        obj.pk, obj.prefix, obj.scopes = token.pk, token.prefix, token.scopes
        obj._state.adding = False
        messages.success(
            request,
            f"The token for {token.user} is {plaintext} — copy it now: it is shown only once.",
        )

    @admin.display(description="Token")
    def display_prefix(self, obj: ApiToken) -> str:
        return obj.display_prefix

    @admin.display(description="Scopes")
    def scopes_summary(self, obj: ApiToken) -> str:
        return scopes_describe(obj.scope_list)

    @admin.display(description="State")
    def state(self, obj: ApiToken) -> str:
        return obj.state.label

    @admin.display(description="Usage")
    def usage(self, obj: ApiToken) -> str:
        used = services.token_usage(token=obj)
        return (
            f"{used.conversations} conversations, {used.questions} questions, "
            f"{used.prompt_tokens} prompt + {used.completion_tokens} completion tokens"
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            services.token_revoke(token=token)
            count += 1
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


@admin.register(ApiConversation)
class ApiConversationAdmin(admin.ModelAdmin[ApiConversation]):
    list_display = ["conversation", "token", "interface", "created_at"]
    list_filter = ["interface", "created_at"]
    search_fields = ["token__name", "token__prefix", "token__user__username"]
    list_select_related = ["conversation", "token"]
    readonly_fields = ["conversation", "token", "interface", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms

from api.scopes import ALL_CORPORA, Permission, Scope
from documents.models import Corpus, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What will use it, e.g. “CI upload job” or “Open WebUI”.",
    )
    corpora = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        help_text="Which corpora the token may use. “All” includes corpora you are given later.",
    )
    permissions = forms.MultipleChoiceField(
        choices=Permission.choices,
        initial=[Permission.QUERY.value],
        widget=forms.CheckboxSelectMultiple,
        help_text="A token never does more than your own role allows: ingesting needs the "
        "contributor role in the corpus, managing the manager role.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Leave empty for a token that does not expire; revoke it when done.",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        roles: dict[int, str] = {}
        for role in Role:  # later roles include earlier ones: the last match is the highest
            for pk in Corpus.objects.for_user(user, role).values_list("pk", flat=True):
                roles[pk] = role.label.split(" (")[0].lower()
        choices = [(ALL_CORPORA, "All corpora you can use")]
        for corpus in Corpus.objects.for_user(user).order_by("name"):
            choices.append((corpus.slug, f"{corpus.name} ({roles.get(corpus.pk, 'reader')})"))
        self.fields["corpora"].choices = choices  # type: ignore[attr-defined]

    def scopes(self) -> list[Scope]:
        permissions = list(self.cleaned_data["permissions"])
        return [
            {"corpus": corpus, "permissions": permissions}
            for corpus in self.cleaned_data["corpora"]
        ]

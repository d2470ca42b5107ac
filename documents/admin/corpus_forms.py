"""The forms and inlines of the corpus admin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from documents import services
from documents.backends.base import Reindexable, get_backend
from documents.models import (
    Corpus,
    CorpusMembership,
    CorpusReindex,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The settings a re-index changes; editing them on a pgvector corpus starts one.
INDEX_FIELDS = ("embedding_model", "chunk_size_tokens", "chunk_overlap_tokens")


def acting_user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]  # admin views require a signed-in user


def reindexes_locally(corpus: Corpus) -> bool:
    return isinstance(get_backend(corpus.index_backend), Reindexable)


class CorpusForm(forms.ModelForm[Corpus]):
    index_backend = forms.ChoiceField(
        choices=[(key, key) for key in settings.INDEX_BACKENDS],
        help_text="Where documents are indexed: pgvector (this database) or openai (an "
        "OpenAI vector store). Fixed once the corpus exists.",
    )
    embedding_model = forms.ChoiceField(
        choices=[(key, key) for key in settings.EMBEDDING_MODELS],
        help_text="Changing it on an existing corpus re-indexes every document in the "
        "background; the current index keeps answering meanwhile.",
    )

    class Meta:
        model = Corpus
        fields = [
            "name",
            "slug",
            "description",
            "index_backend",
            "embedding_model",
            "chunk_size_tokens",
            "chunk_overlap_tokens",
            "text_search_config",
        ]
        help_texts = {
            "chunk_size_tokens": "Largest passage, in the embedding model's tokens. Changing "
            "it re-indexes in the background.",
            "chunk_overlap_tokens": "Tokens shared by consecutive passages of a long page.",
            "text_search_config": "PostgreSQL text search configuration (english, simple, "
            "german, ...). Fixed once the corpus exists.",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # Fields shown read-only are not in the form: the corpus's own values count.
        value = {
            field: data.get(field, getattr(self.instance, field))
            for field in ("index_backend", *INDEX_FIELDS)
        }
        try:
            services.corpus_validate_settings(
                index_backend=value["index_backend"] or "",
                embedding_model=value["embedding_model"] or "",
                chunk_size_tokens=value["chunk_size_tokens"] or 0,
                chunk_overlap_tokens=value["chunk_overlap_tokens"] or 0,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        changed = [field for field in INDEX_FIELDS if field in self.changed_data]
        if self.instance.pk and changed:
            active = CorpusReindex.objects.active().filter(corpus=self.instance).first()
            if active is not None:
                self.add_error(
                    changed[0],
                    f"A re-index is {active.get_status_display().lower()}; change these "
                    "settings once it has finished.",
                )
        return data


class CorpusMembershipForm(forms.ModelForm[CorpusMembership]):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("user")) == bool(data.get("group")):
            raise ValidationError("Choose either a user or a group.")
        return data


class CorpusMembershipInline(admin.TabularInline[CorpusMembership, Corpus]):
    model = CorpusMembership
    form = CorpusMembershipForm
    fields = ["user", "group", "role"]
    autocomplete_fields = ["user", "group"]
    extra = 0
    verbose_name = "member"
    verbose_name_plural = "Members (a user or a group, in a role)"


class CorpusReindexInline(admin.TabularInline[CorpusReindex, Corpus]):
    model = CorpusReindex
    fields = readonly_fields = (
        "created_at",
        "created_by",
        "target_version",
        "settings_label",
        "progress",
        "embedding_tokens",
        "started_at",
        "finished_at",
    )
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "Re-index history"

    @admin.display(description="Settings")
    def settings_label(self, reindex: CorpusReindex) -> str:
        return reindex.settings_label

    @admin.display(description="Status")
    def progress(self, reindex: CorpusReindex) -> str:
        return reindex.summary

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AdoptForm(forms.Form):
    vector_store_id = forms.CharField(
        label="Vector store id",
        max_length=100,
        help_text="The id of an existing OpenAI vector store, e.g. vs_abc123. Its files become "
        "the corpus's documents; nothing is changed at OpenAI.",
    )
    name = forms.CharField(label="Corpus name", max_length=200)
    slug = forms.SlugField(
        max_length=100, required=False, help_text="Leave empty to derive it from the name."
    )

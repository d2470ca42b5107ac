"""Admin for the chat app: conversations (read-only), the answering side of corpora (default
strategy, moving conversations off the Assistants API) and the usage page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from chat import services
from chat.models import Conversation, Feedback, Message, MessageRole
from chat.strategies.base import (
    default_strategy_key,
    get_strategy,
    strategies_for_backend,
)
from chat.usage import GROUPINGS, model_price, usage_report
from documents.admin import CorpusAdmin as DocumentsCorpusAdmin
from documents.admin import CorpusForm
from documents.models import Corpus

if TYPE_CHECKING:
    from chat.strategies.base import AnswerStrategy

# The Assistants API is gone at OpenAI (see chat/strategies/assistants.py); File Search answers
# from the same vector store.
ASSISTANTS = "assistants"
FILE_SEARCH = "file_search"


# --- corpora: how they are answered ------------------------------------------------------------


def _strategy_choice(strategy: AnswerStrategy) -> tuple[str, str]:
    label = strategy.label + (" — shut down at OpenAI, see below" if strategy.admin_notice else "")
    return strategy.key, label


class ChatCorpusForm(CorpusForm):
    chat_strategy = forms.ChoiceField(label="Default answer strategy", required=False)

    class Meta(CorpusForm.Meta):
        fields = [*CorpusForm.Meta.fields, "chat_strategy"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        backend = self.instance.index_backend if self.instance.pk else None
        backends = [backend] if backend else list(settings.INDEX_BACKENDS)
        offered = {key: strategies_for_backend(key) for key in backends}
        field = self.fields["chat_strategy"]
        assert isinstance(field, forms.ChoiceField)
        if backend:
            default = get_strategy(default_strategy_key(backend)).label
            field.choices = [
                ("", f"The backend's default ({default})"),
                *(_strategy_choice(strategy) for strategy in offered[backend]),
            ]
        else:
            field.choices = [
                ("", "The index backend's default"),
                *(
                    (key, [_strategy_choice(strategy) for strategy in strategies])
                    for key, strategies in offered.items()
                    if strategies
                ),
            ]
        notices = [
            f"⚠ {strategy.label}: {strategy.admin_notice}"
            for strategies in offered.values()
            for strategy in strategies
            if strategy.admin_notice
        ]
        field.help_text = " ".join(
            [
                "How new conversations are answered; only strategies that work with the "
                "corpus's index backend are offered.",
                *notices,
            ]
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        strategy = data.get("chat_strategy")
        backend = data.get("index_backend") or self.instance.index_backend
        if strategy and backend:
            try:
                services.strategy_validate(
                    corpus=Corpus(
                        name=data.get("name") or self.instance.name, index_backend=backend
                    ),
                    strategy=strategy,
                )
            except ValidationError as error:
                self.add_error("chat_strategy", error.messages)
        return data


class CorpusAdmin(DocumentsCorpusAdmin):
    form = ChatCorpusForm
    answering_fields = ("chat_strategy",)
    actions = [*DocumentsCorpusAdmin.actions, "move_assistants_conversations"]

    def get_fieldsets(self, request: HttpRequest, obj: Corpus | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            fieldsets[0][1]["fields"].append("conversations_by_strategy")
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Corpus | None = None) -> list[str]:
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "conversations_by_strategy"] if obj is not None else readonly

    @admin.display(description="Conversations")
    def conversations_by_strategy(self, corpus: Corpus) -> str:
        counts = (
            Conversation.objects.filter(corpus=corpus)
            .values_list("strategy")
            .annotate(n=Count("pk"))
            .order_by("-n", "strategy")
        )
        return ", ".join(f"{n} {strategy}" for strategy, n in counts) or "none"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        corpus = Corpus.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if corpus is not None and request.method == "GET":
            key = services.corpus_strategy(corpus)
            notice = get_strategy(key).admin_notice if key in settings.CHAT_STRATEGIES else ""
            if notice:
                messages.warning(request, f"New conversations use {key}. {notice}")
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Move Assistants conversations to File Search")
    def move_assistants_conversations(
        self, request: HttpRequest, queryset: QuerySet[Corpus]
    ) -> None:
        for corpus in queryset:
            try:
                moved = services.conversations_move_strategy(
                    corpus=corpus, from_strategy=ASSISTANTS, to_strategy=FILE_SEARCH
                )
            except ValidationError as error:
                messages.error(request, f"{corpus}: nothing moved. {' '.join(error.messages)}")
                continue
            messages.success(
                request,
                f"{corpus}: moved {moved} conversation{'s' if moved != 1 else ''} from "
                f"Assistants to File Search, with their history; new conversations use File "
                "Search.",
            )

    def get_deleted_objects(
        self, objs: Sequence[Corpus] | QuerySet[Corpus], request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        corpora = list(objs)
        deleted, counts, perms_needed, protected = super().get_deleted_objects(corpora, request)
        counts["conversations"] = Conversation.objects.filter(corpus__in=corpora).count()
        return deleted, counts, perms_needed, protected


admin.site.unregister(Corpus)
admin.site.register(Corpus, CorpusAdmin)


# --- conversations (read-only) ----------------------------------------------------------------


def _excerpt(text: str, length: int = 300) -> str:
    text = " ".join(text.split())
    return text[:length] + ("…" if len(text) > length else "")


class MessageInline(admin.TabularInline[Message, Conversation]):
    model = Message
    fields = readonly_fields = (
        "created_at",
        "role",
        "excerpt",
        "citations_count",
        "strategy",
        "model",
        "status",
        "error",
        "latency_ms",
        "first_token_ms",
        "tokens",
        "feedback_summary",
    )
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        feedback = Feedback.objects.select_related("user")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("feedback", queryset=feedback, to_attr="all_feedback"))
        )

    @admin.display(description="Content")
    def excerpt(self, message: Message) -> str:
        return _excerpt(message.content)

    @admin.display(description="Citations")
    def citations_count(self, message: Message) -> int:
        return len(message.citations)

    @admin.display(description="Tokens (prompt + completion)")
    def tokens(self, message: Message) -> str:
        if message.role != MessageRole.ASSISTANT:
            return ""
        return f"{message.prompt_tokens} + {message.completion_tokens}"

    @admin.display(description="Feedback")
    def feedback_summary(self, message: Message) -> SafeString | str:
        given: list[Feedback] = getattr(message, "all_feedback", [])
        return format_html_join(
            "<br>",
            "{} {}{}",
            (
                (
                    "👍" if item.rating == "up" else "👎",
                    item.user,
                    f": “{_excerpt(item.comment, 200)}”" if item.comment else "",
                )
                for item in given
            ),
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin[Conversation]):
    """What staff asked and were answered, read-only. Superusers may delete a conversation
    (a privacy request)."""

    list_display = ["__str__", "corpus", "user", "strategy", "turns", "updated_at"]
    list_filter = ["corpus", "strategy", ("user", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["title", "messages__content"]
    list_select_related = ["corpus", "user"]
    date_hierarchy = "updated_at"
    fields = readonly_fields = ("corpus", "user", "title", "strategy", "created_at", "updated_at")
    inlines = [MessageInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        questions = Q(messages__role=MessageRole.USER)
        return (
            super()
            .get_queryset(request)
            .annotate(n_turns=Count("messages", filter=questions, distinct=True))
        )

    @admin.display(description="Turns", ordering="n_turns")
    def turns(self, conversation: Conversation) -> int:
        return int(getattr(conversation, "n_turns", 0))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def delete_model(self, request: HttpRequest, obj: Conversation) -> None:
        services.conversation_delete(conversation=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        for conversation in queryset:
            services.conversation_delete(conversation=conversation)


# --- usage ------------------------------------------------------------------------------------


# Periods outside these days cannot be turned into time-zone-aware datetimes at both ends (the
# day after 9999-12-31 does not exist) and predate any usage Docent could have recorded.
USAGE_FIRST_DAY = dt.date(2000, 1, 1)
USAGE_LAST_DAY = dt.date(9998, 12, 31)


def _day_in_range(day: dt.date) -> None:
    if not USAGE_FIRST_DAY <= day <= USAGE_LAST_DAY:
        raise ValidationError(
            f"Choose a day from {USAGE_FIRST_DAY.isoformat()} to {USAGE_LAST_DAY.isoformat()}."
        )


class UsagePeriodForm(forms.Form):
    start = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), validators=[_day_in_range]
    )
    end = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[_day_in_range],
        help_text="Inclusive.",
    )

    DEFAULT_DAYS = 30

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise ValidationError("The period must start before it ends.")
        return data

    def period(self) -> tuple[dt.datetime, dt.datetime]:
        """The chosen days as [start, end) in the current time zone; the last 30 days when
        nothing (valid) was chosen."""
        today = timezone.localdate()
        start = today - dt.timedelta(days=self.DEFAULT_DAYS - 1)
        end = today
        if self.is_bound and self.is_valid():
            start, end = self.cleaned_data["start"], self.cleaned_data["end"]
        return _midnight(start), _midnight(end + dt.timedelta(days=1))


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def usage_page(request: HttpRequest, *, context: dict[str, Any]) -> HttpResponse:
    """Usage and estimated cost per corpus, user and model over a period (staff with access
    to conversations only)."""
    if not request.user.has_perm("chat.view_message"):
        raise PermissionDenied
    form = UsagePeriodForm(request.GET or None)
    start, end = form.period()
    if not form.is_bound:
        form = UsagePeriodForm(
            initial={"start": start.date(), "end": (end - dt.timedelta(days=1)).date()}
        )
    reports = {key: usage_report(start=start, end=end, group_by=key) for key in GROUPINGS}
    unpriced = sorted(set().union(*(report.total.unpriced_models for report in reports.values())))
    # Other apps add groupings (api: per token), so the model grouping is found by its key.
    models = sorted({str(row.key) for row in reports["model"].rows if row.key})
    prices = {model: price for model in models if (price := model_price(model)) is not None}
    return TemplateResponse(
        request,
        "admin/usage.html",
        {
            **context,
            "title": "Usage and estimated cost",
            "form": form,
            "reports": list(reports.values()),
            "total": reports["corpus"].total,
            "storage_days": reports["corpus"].storage_days,
            "unpriced": unpriced,
            "prices": prices,
            "price_per_gb_day": settings.VECTOR_STORE_PRICE_PER_GB_DAY,
            "free_gb": settings.VECTOR_STORE_FREE_GB,
        },
    )

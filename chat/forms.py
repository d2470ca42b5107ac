from __future__ import annotations

from django import forms
from django.conf import settings


class AskForm(forms.Form):
    """Checked before the answer starts streaming, so that a refused question is a plain 400
    instead of an error in the middle of a stream (message_ask applies the same rules)."""

    question = forms.CharField(strip=True, error_messages={"required": "Ask a question first."})

    def clean_question(self) -> str:
        question: str = self.cleaned_data["question"]
        limit = settings.CHAT_MAX_QUESTION_CHARS
        if len(question) > limit:
            raise forms.ValidationError(
                f"Questions are limited to {limit} characters ({len(question)} now); shorten it "
                "and ask again."
            )
        return question

    def first_error(self) -> str:
        for errors in self.errors.values():
            return str(errors[0])
        return ""

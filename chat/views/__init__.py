"""The staff web UI for chatting: pages (home, conversations, search, feedback) and answers
(streamed, followed after a reload, stopped, regenerated, edited)."""

from chat.views.answers import answer_follow, answer_regenerate, answer_stop, ask, question_edit
from chat.views.pages import (
    conversation_delete,
    conversation_detail,
    conversation_new,
    conversation_rename,
    conversation_search,
    home,
    message_feedback,
)

__all__ = [
    "answer_follow",
    "answer_regenerate",
    "answer_stop",
    "ask",
    "conversation_delete",
    "conversation_detail",
    "conversation_new",
    "conversation_rename",
    "conversation_search",
    "home",
    "message_feedback",
    "question_edit",
]

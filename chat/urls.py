from __future__ import annotations

from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.home, name="home"),
    path("c/<slug:slug>/", views.conversation_new, name="new"),
    path("c/<slug:slug>/ask", views.ask, name="ask_new"),
    path("c/<slug:slug>/conversations/", views.conversation_search, name="search"),
    path(
        "c/<slug:slug>/conversations/<int:conversation_id>/",
        views.conversation_detail,
        name="conversation",
    ),
    path("c/<slug:slug>/conversations/<int:conversation_id>/ask", views.ask, name="ask"),
    path(
        "c/<slug:slug>/conversations/<int:conversation_id>/rename",
        views.conversation_rename,
        name="rename",
    ),
    path(
        "c/<slug:slug>/conversations/<int:conversation_id>/delete",
        views.conversation_delete,
        name="delete",
    ),
    path(
        "c/<slug:slug>/messages/<int:message_id>/follow",
        views.answer_follow,
        name="answer_follow",
    ),
    path("c/<slug:slug>/messages/<int:message_id>/stop", views.answer_stop, name="answer_stop"),
    path(
        "c/<slug:slug>/messages/<int:message_id>/regenerate",
        views.answer_regenerate,
        name="answer_regenerate",
    ),
    path("c/<slug:slug>/messages/<int:message_id>/edit", views.question_edit, name="question_edit"),
    path(
        "c/<slug:slug>/messages/<int:message_id>/feedback",
        views.message_feedback,
        name="feedback",
    ),
]

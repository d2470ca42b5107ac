from __future__ import annotations

from django.urls import path

from evaluation import views

app_name = "evaluation"

urlpatterns = [
    path("answers/<int:message_id>/sources/", views.why_sources, name="why_sources"),
]

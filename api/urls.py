from __future__ import annotations

from django.urls import path

from api import views

app_name = "api"

urlpatterns = [
    path("api/tokens/", views.token_list, name="tokens"),
    path("api/tokens/<int:token_id>/revoke", views.token_revoke, name="token_revoke"),
]

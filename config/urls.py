from __future__ import annotations

from django.contrib import admin
from django.urls import path

from config.views import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health, name="health"),
]

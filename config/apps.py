from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class DocentAdminConfig(AdminConfig):
    """django.contrib.admin, with Docent's admin site as the default `admin.site`."""

    default_site = "config.admin.DocentAdminSite"

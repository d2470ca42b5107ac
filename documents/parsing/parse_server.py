"""Preloaded by the fork server that bounded parses start from (documents/parsing/limits.py):
Django and every parser imported once, so that each parse forks ready to read."""

from __future__ import annotations

import os

if os.environ.get("DJANGO_SETTINGS_MODULE"):
    import django

    django.setup()

    from documents.parsing.registry import parsers

    parsers()

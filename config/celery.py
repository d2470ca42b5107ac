from __future__ import annotations

import os
from typing import Any

from celery import Celery

from config.bootstrap import prepare_local_defaults

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("docent")


@app.on_configure.connect
def _prepare_local_defaults(**kwargs: Any) -> None:
    # The worker and beat read the settings when the app loads its configuration, not at
    # import: importing this module (config/__init__.py does) must stay free of I/O.
    prepare_local_defaults()


app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

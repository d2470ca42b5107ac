from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from config.bootstrap import prepare_local_defaults

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("docent")


@app.on_configure.connect
def _prepare_local_defaults(**kwargs: Any) -> None:
    # The worker and beat read the settings when the app loads its configuration, not at
    # import: importing this module (config/__init__.py does) must stay free of I/O.
    prepare_local_defaults()


@worker_process_init.connect
def _let_pool_children_start_processes(**kwargs: Any) -> None:
    # Prefork pool children are marked daemonic, and multiprocessing refuses to start a process
    # from a daemonic one; parsing runs each file in a bounded child (documents/parsing/
    # limits.py). The children it starts are daemonic themselves, so none outlives the pool
    # child.
    # Billiard also leaves its own authkey type there, which the stdlib's fork server cannot
    # pickle; give the child a stdlib one.
    import multiprocessing
    import multiprocessing.process
    import os

    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    config["daemon"] = False
    config["authkey"] = multiprocessing.process.AuthenticationString(os.urandom(32))


app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

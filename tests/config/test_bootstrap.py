"""config/bootstrap.py: the I/O the local defaults need, done by the entry points, not settings."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.bootstrap import local_secret_key, prepare_local_defaults

ROOT = Path(__file__).resolve().parents[2]
local_only = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="this run uses DATABASE_URL, not the local server"
)


def test_a_deployment_with_its_own_database_only_gets_the_broker_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://docent@localhost/unused")
    monkeypatch.setenv("SECRET_KEY", "set-by-the-deployment")
    monkeypatch.setenv("DOCENT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CELERY_BROKER_URL", "filesystem://")
    monkeypatch.setenv("CELERY_BROKER_DIR", str(tmp_path / "broker"))
    prepare_local_defaults()
    assert sorted(p.name for p in (tmp_path / "broker").iterdir()) == [
        "control",
        "processed",
        "queue",
    ]
    assert not (tmp_path / "data").exists()
    assert os.environ["SECRET_KEY"] == "set-by-the-deployment"


def test_another_broker_needs_no_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://docent@localhost/unused")
    monkeypatch.setenv("DOCENT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.delenv("CELERY_BROKER_DIR", raising=False)
    prepare_local_defaults()
    assert list(tmp_path.iterdir()) == []


def test_the_local_secret_key_is_generated_once_and_private(tmp_path):
    path = tmp_path / "data" / "secret_key"
    key = local_secret_key(path=path)
    assert len(key) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_secret_key(path=path) == key


@local_only
def test_pytest_prepared_the_local_server_before_the_settings_were_read():
    assert settings.DATABASES["default"]["HOST"] == os.environ["LOCAL_DATABASE_HOST"]
    assert settings.DATABASES["default"]["PORT"] == os.environ["LOCAL_DATABASE_PORT"]
    assert os.environ["SECRET_KEY"] == settings.SECRET_KEY


@local_only
@pytest.mark.django_db
def test_an_unprepared_process_finds_the_running_server_and_its_key(tmp_path):
    """What manage.py, the ASGI app and the worker do first: against the server this run uses
    (already running, so nothing is started or stopped)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"SECRET_KEY", "LOCAL_DATABASE_HOST", "LOCAL_DATABASE_PORT"}
    }
    env["DOCENT_DATA_DIR"] = str(settings.DATA_DIR)
    env["CELERY_BROKER_DIR"] = str(tmp_path / "broker")
    code = (
        "import json, os; from config.bootstrap import prepare_local_defaults; "
        "prepare_local_defaults(); from django.conf import settings; "
        "print(json.dumps({name: os.environ[name] for name in "
        "('SECRET_KEY', 'LOCAL_DATABASE_HOST', 'LOCAL_DATABASE_PORT')} | "
        "{'NAME': settings.DATABASES['default']['NAME']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    exported = json.loads(result.stdout)
    assert exported["SECRET_KEY"] == (settings.DATA_DIR / "secret_key").read_text().strip()
    assert exported["LOCAL_DATABASE_HOST"] == connection.settings_dict["HOST"]
    assert exported["LOCAL_DATABASE_PORT"] == str(connection.settings_dict["PORT"])
    assert exported["NAME"] == os.environ.get("LOCAL_DATABASE_NAME", "docent")


def test_the_celery_app_prepares_when_it_loads_its_configuration_not_on_import(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://docent@localhost/unused",
        "SECRET_KEY": "test",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_DIR": str(tmp_path / "broker"),
    }
    code = (
        "import os, sys; from config.celery import app; "
        "before = os.path.exists(sys.argv[1]); app.conf.task_acks_late; "
        "print(before, os.path.exists(sys.argv[1]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "broker")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]

"""config/settings.py reads the environment and nothing else, and reads it strictly."""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "config" / "settings.py"
# What the entry points export; a settings module loaded here must not see the session's.
PREPARED = ("SECRET_KEY", "LOCAL_DATABASE_HOST", "LOCAL_DATABASE_PORT")


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """A production-like environment (so the module asks for no key file) under tmp_path."""
    for name in PREPARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCENT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", "postgres://docent@localhost/unused")
    monkeypatch.setenv("SECRET_KEY", "test")
    return monkeypatch


def load_settings() -> dict:
    return runpy.run_path(str(SETTINGS))


def clean_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV"}
    }
    return {**env, "DOCENT_DATA_DIR": str(tmp_path / "data"), **overrides}


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_importing_the_settings_writes_nothing_and_starts_no_database(tmp_path):
    code = (
        "import json, config.settings as s; "
        "print(json.dumps({'host': s.DATABASES['default']['HOST'], 'key': s.SECRET_KEY, "
        "'queue': s.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in']}))"
    )
    result = run_python(code, clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    # Where an unprepared process would look; nothing was created there, not even the folder.
    assert values == {
        "host": str(tmp_path / "data" / "postgres"),
        "key": "",
        "queue": str(tmp_path / "data" / "broker" / "queue"),
    }
    assert not (tmp_path / "data").exists()
    assert list(tmp_path.iterdir()) == []


def test_a_typo_in_a_boolean_stops_start_up_naming_the_variable(tmp_path):
    result = run_python("import config.settings", clean_env(tmp_path, DEBUG="ture"))
    assert result.returncode != 0
    assert "ImproperlyConfigured: DEBUG='ture' is not a boolean" in result.stderr
    assert "1/0, true/false, yes/no or on/off" in result.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" On ", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("OFF", False),
        ("", False),
    ],
)
def test_booleans_accept_the_documented_words_in_any_case(environment, value, expected):
    environment.setenv("DEBUG", value)
    assert load_settings()["DEBUG"] is expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("DEBUG", "2"), ("SECURE_SSL_REDIRECT", "y"), ("STATIC_MANIFEST", "enabled")],
)
def test_other_boolean_values_are_refused(environment, name, value):
    environment.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=rf"^{name}='{value}' is not a boolean"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("EMAIL_PORT", "587x", "is not a whole number"),
        ("SEARCH_CANDIDATES", "4.5", "is not a whole number"),
        ("SECURE_HSTS_SECONDS", "one year", "is not a whole number"),
        ("SEARCH_BM25_K1", "fast", "is not a number"),
        ("OPENAI_TIMEOUT_SECONDS", "inf", "is not a number"),
        ("VECTOR_STORE_FREE_GB", "nan", "is not a number"),
    ],
)
def test_a_bad_number_stops_start_up_naming_the_variable(environment, name, value, message):
    environment.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=rf"^{name}='{re.escape(value)}' {message}"):
        load_settings()


def test_numbers_are_parsed_and_an_empty_value_means_the_default(environment):
    environment.setenv("SEARCH_CANDIDATES", " 25 ")
    environment.setenv("SEARCH_BM25_B", "0.5")
    environment.setenv("SEARCH_RRF_K", "")
    environment.setenv("CELERY_BROKER_URL", "")
    loaded = load_settings()
    assert loaded["SEARCH_CANDIDATES"] == 25
    assert loaded["SEARCH_BM25_B"] == 0.5
    assert loaded["SEARCH_RRF_K"] == 60
    assert loaded["CELERY_BROKER_URL"] == "filesystem://"


@pytest.mark.parametrize("value", ["{not json", '["gpt-4.1-mini"]'])
def test_prices_that_are_not_a_json_object_are_refused(environment, value):
    environment.setenv("MODEL_PRICES_JSON", value)
    with pytest.raises(ImproperlyConfigured, match=r"^MODEL_PRICES_JSON"):
        load_settings()


def test_a_deployment_with_its_own_database_must_set_a_secret_key(environment):
    environment.delenv("SECRET_KEY")
    with pytest.raises(ImproperlyConfigured, match="Set SECRET_KEY"):
        load_settings()


def test_database_url_connections_are_not_kept_between_requests_unless_asked(environment):
    """Under ASGI a kept connection is left open by each request's thread (Django's advice:
    no persistent connections there)."""
    assert load_settings()["DATABASES"]["default"]["CONN_MAX_AGE"] == 0
    environment.setenv("DATABASE_CONN_MAX_AGE", "30")
    assert load_settings()["DATABASES"]["default"]["CONN_MAX_AGE"] == 30


def test_the_local_database_is_read_from_what_the_entry_points_export(environment, tmp_path):
    environment.delenv("DATABASE_URL")
    environment.setenv("LOCAL_DATABASE_NAME", "docent_other")
    environment.setenv("LOCAL_DATABASE_HOST", "/run/elsewhere")
    environment.setenv("LOCAL_DATABASE_PORT", "5433")
    database = load_settings()["DATABASES"]["default"]
    assert (database["NAME"], database["HOST"], database["PORT"]) == (
        "docent_other",
        "/run/elsewhere",
        "5433",
    )
    assert not (tmp_path / "data").exists()


def test_variables_read_outside_the_settings_module_are_documented_too():
    sources = "\n".join((ROOT / "config" / name).read_text() for name in ("env.py", "bootstrap.py"))
    read = set(re.findall(r'env_(?:str|bool|int|float|list|json_object)\("([A-Z0-9_]+)"', sources))
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read
    assert read <= documented, sorted(read - documented)

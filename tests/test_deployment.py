"""The production files stay in step with the code (Docker cannot run here, so these are read)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_setting_read_from_the_environment_is_documented_in_env_example():
    sources = "\n".join(
        path.read_text() for path in [ROOT / "config" / "settings.py", ROOT / "dev.py"]
    )
    read = set(re.findall(r'env_(?:str|bool|int|float|list)\("([A-Z0-9_]+)"', sources))
    read |= set(re.findall(r'environ\.get\("([A-Z0-9_]+)"', sources))
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    internal = {"DJANGO_SETTINGS_MODULE", "DOCENT_VENV", "CHROMIUM_PATH"}
    assert read - internal <= documented, sorted(read - internal - documented)


def test_compose_runs_database_broker_web_workers_and_beat_with_healthchecks():
    services = compose()["services"]
    assert {"db", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    assert "pgvector" in services["db"]["image"]
    for name in ("db", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "uvicorn" in (ROOT / "Dockerfile").read_text()  # the web server is ASGI
    assert "worker" in services["worker"]["command"]


def test_compose_keeps_data_in_volumes_and_reads_env_from_dot_env():
    data = compose()
    assert {"pgdata", "media", "redisdata"} <= set(data["volumes"])
    for name in ("web", "worker", "beat", "migrate"):
        service = data["services"][name]
        assert service["env_file"] == ".env"
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["environment"]["CELERY_BROKER_URL"].startswith("redis://")


def test_dockerfile_copies_only_paths_that_exist():
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source

"""The production files stay in step with the code (Docker cannot run here, so these are read)."""

from __future__ import annotations

import importlib.util
import re
import tomllib
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


def _queues(command: list[str]) -> set[str]:
    return set(command[command.index("-Q") + 1].split(","))


def _compose_queues(service: dict) -> set[str]:
    # Compose fills ${NAME:-default} from .env; the defaults are the settings' defaults.
    command = [re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", part) for part in service["command"]]
    return _queues(command)


def _routed_queues(settings) -> set[str]:
    return {"celery", settings.INGEST_LARGE_QUEUE} | {
        route["queue"] for route in settings.CELERY_TASK_ROUTES.values()
    }


def test_compose_runs_a_worker_per_queue_and_every_routed_queue_has_one(settings):
    services = compose()["services"]
    workers = {
        name: _compose_queues(service)
        for name, service in services.items()
        if service.get("command", [])[:4] == ["celery", "-A", "config", "worker"]
    }
    assert workers == {
        "worker": {"celery"},
        "worker-large": {settings.INGEST_LARGE_QUEUE},
        "worker-housekeeping": {settings.HOUSEKEEPING_QUEUE},
    }
    assert set().union(*workers.values()) == _routed_queues(settings)
    for name in workers:
        service = services[name]
        node = service["command"][service["command"].index("-n") + 1]
        # The healthcheck pings the worker's own node, not any worker that answers.
        assert node == f"{service['environment']['CELERY_NODE']}@%h", name
        assert "$$CELERY_NODE@$$HOSTNAME" in service["healthcheck"]["test"][1], name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_dev_py_runs_large_documents_on_a_worker_of_their_own(settings):
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    workers = [_queues([str(part) for part in cmd]) for cmd in dev.worker_commands({})]
    assert set().union(*workers) == _routed_queues(settings)
    assert {settings.INGEST_LARGE_QUEUE} in workers


def test_compose_database_is_sized_for_a_million_chunks():
    db = compose()["services"]["db"]
    options = dict(part.split("=", 1) for part in db["command"] if "=" in part)
    for name in ("shared_buffers", "maintenance_work_mem", "max_parallel_maintenance_workers"):
        assert name in options, name

    def gigabytes(value: str) -> float:
        value = re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", value)
        number, unit = re.fullmatch(r"(\d+)([MG]B)", value, re.I).groups()
        return int(number) / (1024 if unit.upper() == "MB" else 1)

    # 1M 384-dimension vectors are ~1.5 GB; their HNSW graph must fit in maintenance_work_mem.
    assert gigabytes(options["maintenance_work_mem"]) >= 2
    assert gigabytes(options["shared_buffers"]) >= 1
    assert db["shm_size"], "parallel workers share memory through /dev/shm (64 MB by default)"
    redis = compose()["services"]["redis"]["command"]
    assert redis[redis.index("--maxmemory-policy") + 1] == "noeviction"


def test_the_image_holds_every_installed_app_and_the_redis_client():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    }
    assert {package.rstrip("*") for package in packages} <= copied
    assert any(dep.startswith("celery[redis]") for dep in pyproject["project"]["dependencies"])

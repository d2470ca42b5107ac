"""The brokers the tests with a real worker run against: kombu's filesystem transport (the
embedded default) and Redis (production), each test once per broker.

Redis is the one these machines run on localhost (TEST_REDIS_URL, default
redis://localhost:6379/0); every test gets its own key prefix (CELERY_BROKER_KEY_PREFIX), so
that test runs sharing that server never see each other's messages, and its keys are deleted
afterwards. Where no Redis answers, the Redis half is skipped with a message saying so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from kombu import Connection

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://localhost:6379/0")
BROKERS = ["filesystem", "redis"]


@dataclass
class Broker:
    name: str
    url: str
    transport_options: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)  # what a worker process needs

    def connection(self) -> Connection:
        return Connection(self.url, transport_options=self.transport_options)

    def send_task(self, name: str, *, queue: str | None = None, **kwargs: Any) -> None:
        """Publish task `name` with keyword arguments, as the web process would."""
        sender = Celery("sender", broker=self.url)
        sender.conf.broker_transport_options = self.transport_options
        sender.conf.task_serializer = "json"
        sender.send_task(name, kwargs=kwargs, queue=queue)

    def waiting(self, queue: str) -> int:
        """How many messages wait in `queue`."""
        with self.connection() as connection:
            return int(connection.default_channel.queue_declare(queue, passive=True).message_count)


def filesystem_broker(folder: Path) -> Broker:
    folders = {name: folder / name for name in ("queue", "processed", "control")}
    for path in folders.values():
        path.mkdir(parents=True, exist_ok=True)
    return Broker(
        name="filesystem",
        url="filesystem://",
        transport_options={
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
            "store_processed": False,
            "polling_interval": 0.1,
        },
        env={"CELERY_BROKER_URL": "filesystem://", "CELERY_BROKER_DIR": str(folder)},
    )


def redis_broker() -> Broker:
    prefix = f"docent-test-{uuid.uuid4().hex[:12]}:"
    broker = Broker(
        name="redis",
        url=REDIS_URL,
        transport_options={"global_keyprefix": prefix},
        env={"CELERY_BROKER_URL": REDIS_URL, "CELERY_BROKER_KEY_PREFIX": prefix},
    )
    try:
        with broker.connection() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:
        pytest.skip(
            f"NO REDIS AT {REDIS_URL} ({error}): the Redis half of the broker tests DID NOT RUN. "
            "Start redis-server (or set TEST_REDIS_URL) to test the production broker."
        )
    return broker


def _delete_keys(broker: Broker) -> None:
    import redis

    client = redis.Redis.from_url(broker.url)
    prefix = broker.transport_options["global_keyprefix"]
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """The broker a test's worker uses; the test runs once with each."""
    if request.param == "filesystem":
        yield filesystem_broker(tmp_path / "broker")
        return
    broker = redis_broker()
    yield broker
    _delete_keys(broker)

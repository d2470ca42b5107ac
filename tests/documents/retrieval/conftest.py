from __future__ import annotations

from tests.fakes.rerank_server import fake_rerank, fake_rerank_server  # noqa: F401

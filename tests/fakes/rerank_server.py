"""A fake rerank API for tests and benchmarks: real HTTP/1.1 on 127.0.0.1.

    server = FakeRerankServer().start()          # port 0 picks a free port
    server.url("cohere")                         # http://127.0.0.1:<port>/v1/rerank
    ...
    server.reset()
    server.stop()

Speaks Cohere's and Jina's shape (POST /v1/rerank and /v2/rerank: {model, query, documents,
top_n} -> {results: [{index, relevance_score}]}, best first, top_n of them) and Hugging Face
TEI's (POST /rerank: {query, texts} -> [{index, score}], best first). A text scores the share
of the query's words it contains: enough to reorder passages, meaningless as a quality measure.

Knobs (restored by reset()): require_api_key; latency (seconds before every answer);
fail_next(status) answers the next request with that status; bad_json_next() answers it with a
body that is not JSON; requests lists what was sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_WORD = re.compile(r"\w+")


def overlap(query: str, text: str) -> float:
    wanted = set(_WORD.findall(query.lower()))
    if not wanted:
        return 0.0
    return len(wanted & set(_WORD.findall(text.lower()))) / len(wanted)


@dataclass(frozen=True)
class RerankRequest:
    path: str
    headers: dict[str, str]
    body: Any


class FakeRerankServer:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.require_api_key: str | None = None
            self.latency = 0.0
            self.requests: list[RerankRequest] = []
            self._failures: list[int | str] = []

    def fail_next(self, status: int = 500) -> None:
        with self._lock:
            self._failures.append(status)

    def bad_json_next(self) -> None:
        with self._lock:
            self._failures.append("bad-json")

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, flavour: str = "cohere") -> str:
        return f"{self.base_url}{'/rerank' if flavour == 'tei' else '/v1/rerank'}"

    def start(self) -> FakeRerankServer:
        self._server = _HTTPServer(self._address, self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- answering ------------------------------------------------------------------------

    def answer(self, *, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(RerankRequest(path=path, headers=headers, body=body))
            failure = self._failures.pop(0) if self._failures else None
            latency, key = self.latency, self.require_api_key
        if latency:
            time.sleep(latency)
        if failure == "bad-json":
            return 200, b"<html>upstream proxy error</html>"
        if isinstance(failure, int):
            return failure, _json({"message": f"injected failure {failure}"})
        if key is not None and headers.get("authorization") != f"Bearer {key}":
            return 401, _json({"message": "invalid api token"})
        if path not in ("/v1/rerank", "/v2/rerank", "/rerank"):
            return 404, _json({"message": f"no route {path}"})
        texts_field = "texts" if path == "/rerank" else "documents"
        if not isinstance(body, dict) or not isinstance(body.get(texts_field), list):
            return 422, _json({"message": f"query and {texts_field} are required"})
        query = str(body.get("query", ""))
        texts = [str(text) for text in body[texts_field]]
        scored = sorted(
            ((index, overlap(query, text)) for index, text in enumerate(texts)),
            key=lambda pair: -pair[1],
        )
        if path == "/rerank":
            return 200, _json([{"index": i, "score": s} for i, s in scored])
        top_n = int(body.get("top_n") or len(texts))
        results = [{"index": i, "relevance_score": s} for i, s in scored[:top_n]]
        return 200, _json({"id": "rerank-fake", "results": results, "meta": {}})


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: FakeRerankServer) -> None:
        super().__init__(address, _Handler)
        self.app = app


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, body = self.server.app.answer(path=self.path, headers=headers, raw=raw)
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except ConnectionError:
            pass  # the client gave up (a timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


# --- pytest fixtures: import both names into a conftest.py ---------------------------------


@pytest.fixture(scope="session")
def fake_rerank_server() -> Iterator[FakeRerankServer]:
    server = FakeRerankServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_rerank(fake_rerank_server: FakeRerankServer) -> Iterator[FakeRerankServer]:
    fake_rerank_server.reset()
    yield fake_rerank_server
    fake_rerank_server.reset()

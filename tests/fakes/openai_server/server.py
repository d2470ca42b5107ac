"""HTTP plumbing: the threaded server, routing, auth, SSE framing, failure injection."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import (
    assistants_api,
    chat_api,
    conversations_api,
    embeddings_api,
    files_api,
    responses_api,
    runs_api,
    vector_stores_api,
)
from .ids import IdFactory
from .ingest import ERROR_MESSAGES, ProcessingFailure
from .state import State
from .transport import HTTPServer
from .wire import ApiError, JsonReply, Reply, Request, StreamReply, Upload, parse_multipart

logger = logging.getLogger(__name__)

Handler = Callable[..., Reply]
Route = tuple[str, str, Handler]

ROUTES: list[Route] = [
    *files_api.ROUTES,
    *vector_stores_api.ROUTES,
    *responses_api.ROUTES,
    *conversations_api.ROUTES,
    *assistants_api.ROUTES,
    *runs_api.ROUTES,
    *chat_api.ROUTES,
    *embeddings_api.ROUTES,
]

RECORDED_HEADERS = (
    "accept",
    "api-key",
    "authorization",
    "content-type",
    "idempotency-key",
    "openai-beta",
    "openai-organization",
    "openai-project",
    "user-agent",
    "x-stainless-custom-poll-interval",
    "x-stainless-poll-helper",
    "x-stainless-retry-count",
)

DEFAULT_ERRORS = {
    429: (
        "Rate limit reached for requests. Please try again shortly.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


@dataclass
class RecordedRequest:
    """One request as the fake saw it, and what it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None
    uploads: dict[str, Upload] = field(default_factory=dict)
    status: int | None = None
    response: Any = None
    events: list[tuple[str | None, Any]] | None = None


@dataclass
class _FailureRule:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    body: Any


@dataclass
class _AfterRule:
    """Handle the request, then answer it late (`delay` seconds) or never (`drop`)."""

    method: str
    pattern: re.Pattern[str]
    times: int
    delay: float
    drop: bool


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^/v1{pattern}$")


class FakeOpenAIServer:
    """A stateful, deterministic stand-in for api.openai.com on 127.0.0.1."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, seed: int = 0) -> None:
        self.host = host
        self.port = port
        self.seed = seed
        self._lock = threading.RLock()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        # Literal paths (/threads/runs) win over templated ones (/threads/{thread_id}).
        ordered = sorted(ROUTES, key=lambda route: route[1].count("{"))
        self._routes = [
            (method, template, _compile(template), h) for method, template, h in ordered
        ]
        self._set_defaults()

    def _set_defaults(self) -> None:
        self.state = State(ids=IdFactory(self.seed))
        self.require_api_key: str | None = None
        self.processing_polls = 1
        self.poll_after_ms: str | int | None = "5"
        self.latency = 0.0
        self.stream_delay = 0.0
        self.check_file_types = True
        self.clock: Callable[[], int] | None = None
        self.models = [model for model, _, _ in embeddings_api.MODELS]
        self.requests: list[RecordedRequest] = []
        self.file_failures: list[ProcessingFailure] = []
        self.chat_queue: deque[str] = deque()
        self.response_queue: deque[str] = deque()
        self.run_queue: deque[str] = deque()
        self.response_failures: deque[tuple[str, str]] = deque()
        self.run_failures: deque[tuple[str, str]] = deque()
        self._failures: list[_FailureRule] = []
        self._after: list[_AfterRule] = []

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            return self
        httpd = HTTPServer((self.host, self.port), self)
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="fake-openai", kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def reset(self) -> None:
        """Forget every object, queued reply, injected failure and setting."""
        with self._lock:
            self._set_defaults()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def route_templates(self) -> list[tuple[str, str]]:
        return [(method, "/" + template.lstrip("/")) for method, template, _, _ in self._routes]

    def now(self) -> int:
        return int(self.clock()) if self.clock is not None else int(time.time())

    # --- test controls --------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 429,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """The next `times` requests matching answer `status` (method "*" matches any)."""
        with self._lock:
            self._failures.append(
                _FailureRule(
                    method.upper(), re.compile(path_regex), status, times, headers or {}, body
                )
            )

    def slow_next(self, method: str, path_regex: str, seconds: float, times: int = 1) -> None:
        """The next `times` requests matching are carried out at once (a file is stored, ...)
        but answered `seconds` later: a client with a shorter timeout gives up on work done."""
        self._after_rule(method, path_regex, times=times, delay=seconds, drop=False)

    def drop_next(self, method: str, path_regex: str, times: int = 1) -> None:
        """The next `times` requests matching are carried out, then the connection is closed
        without an answer: the server died between doing the work and saying so."""
        self._after_rule(method, path_regex, times=times, delay=0.0, drop=True)

    def _after_rule(
        self, method: str, path_regex: str, *, times: int, delay: float, drop: bool
    ) -> None:
        with self._lock:
            self._after.append(
                _AfterRule(method.upper(), re.compile(path_regex), times, delay, drop)
            )

    def after_dispatch(self, request: Request) -> tuple[float, bool]:
        """(seconds to wait before answering, whether to drop the answer) for this request."""
        with self._lock:
            for rule in self._after:
                if rule.method not in ("*", request.method) or not rule.pattern.search(
                    request.path
                ):
                    continue
                rule.times -= 1
                if rule.times <= 0:
                    self._after.remove(rule)
                return rule.delay, rule.drop
        return 0.0, False

    def fail_file_processing(
        self, pattern: str, code: str = "unsupported_file", message: str | None = None
    ) -> None:
        """Files whose name matches the fnmatch `pattern` end `failed` with this last_error."""
        if code not in ERROR_MESSAGES:
            raise ValueError(f"code must be one of {sorted(ERROR_MESSAGES)}")
        with self._lock:
            self.file_failures.append(
                ProcessingFailure(pattern, code, message or ERROR_MESSAGES[code])
            )

    def queue_chat_reply(self, text: str) -> None:
        with self._lock:
            self.chat_queue.append(text)

    def queue_response_text(self, text: str) -> None:
        with self._lock:
            self.response_queue.append(text)

    def queue_run_text(self, text: str) -> None:
        with self._lock:
            self.run_queue.append(text)

    def fail_next_response(
        self,
        code: str = "server_error",
        message: str = "The model failed to generate a response.",
    ) -> None:
        """The next response fails while it writes: half its text streams, then
        `response.failed` carries this error (the response is stored with status failed)."""
        with self._lock:
            self.response_failures.append((code, message))

    def fail_next_run(
        self,
        code: str = "server_error",
        message: str = "Sorry, something went wrong.",
    ) -> None:
        """The next Assistants run fails before it answers: `thread.run.failed` carries this
        last_error."""
        with self._lock:
            self.run_failures.append((code, message))

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        pattern = re.compile(path_regex)
        return [
            r
            for r in list(self.requests)
            if (method == "*" or r.method == method.upper()) and pattern.search(r.path)
        ]

    # --- dispatch -------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply:
        with self._lock:
            recorded = RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.query,
                headers={k: v for k, v in request.headers.items() if k in RECORDED_HEADERS},
            )
            self.requests.append(recorded)
            try:
                self._parse_body(request)
                recorded.body = request.json if request.json is not None else request.form or None
                recorded.uploads = request.uploads
                reply = self._injected(request) or self._route(request)
            except ApiError as error:
                reply = JsonReply(error.body(), status=error.status, headers=error.headers)
            except Exception as exc:
                logger.exception("fake OpenAI server failed on %s %s", request.method, request.path)
                message = f"Fake server error: {exc!r}\n{traceback.format_exc()}"
                body = {
                    "error": {
                        "message": message,
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                }
                reply = JsonReply(body, status=500)
            recorded.status = reply.status if not isinstance(reply, StreamReply) else 200
            if isinstance(reply, JsonReply):
                recorded.response = reply.body
            elif isinstance(reply, StreamReply):
                recorded.events = [
                    (e.event, e.data if e.data == "[DONE]" else json.loads(e.data))
                    for e in reply.events
                ]
            reply.headers.setdefault("x-request-id", f"req_{self.state.ids.noise(32).lower()}")
            return reply

    def _parse_body(self, request: Request) -> None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            request.form, request.uploads = parse_multipart(content_type, request.raw_body)
        elif request.raw_body.strip():
            try:
                request.json = json.loads(request.raw_body)
            except ValueError:
                raise ApiError(
                    400,
                    "We could not parse the JSON body of your request. (HINT: This likely means"
                    " you aren't using your HTTP library correctly. The OpenAI API expects a JSON"
                    " payload, but what was sent was not valid JSON.)",
                ) from None

    def _injected(self, request: Request) -> Reply | None:
        for rule in self._failures:
            if rule.method not in ("*", request.method) or not rule.pattern.search(request.path):
                continue
            rule.times -= 1
            if rule.times <= 0:
                self._failures.remove(rule)
            headers = dict(rule.headers)
            if rule.status == 429:
                headers.setdefault("retry-after-ms", "10")
                headers.setdefault("retry-after", "0")
            if rule.body is not None:
                return JsonReply(rule.body, status=rule.status, headers=headers)
            message, kind, code = DEFAULT_ERRORS.get(
                rule.status, (f"Injected failure ({rule.status}).", "invalid_request_error", None)
            )
            body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
            return JsonReply(body, status=rule.status, headers=headers)
        return None

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else ""
        key = key or request.headers.get("api-key", "").strip()
        if not key:
            raise ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an"
                " Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if self.require_api_key is not None and key != self.require_api_key:
            shown = f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else "*****"
            raise ApiError(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at"
                " https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _route(self, request: Request) -> Reply:
        self._authenticate(request)
        for method, _, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                return handler(self, request, **match.groupdict())
        raise ApiError(404, f"Invalid URL ({request.method} {request.path})")

"""The stdlib HTTP/1.1 server under the fake: request parsing, JSON replies, chunked SSE."""

from __future__ import annotations

import json
import logging
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .wire import JsonReply, RawReply, Request, StreamReply

if TYPE_CHECKING:
    from .server import FakeOpenAIServer

logger = logging.getLogger(__name__)


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Keep-alive connections would otherwise make server_close() wait for idle clients.
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: FakeOpenAIServer) -> None:
        super().__init__(address, _RequestHandler)
        self.app = app

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client closing an idle keep-alive connection is normal, not an error to print."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle + delayed ACK would add ~40 ms to each.
    disable_nagle_algorithm = True
    server: HTTPServer

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            raw_body=self._read_body(),
        )
        reply = app.dispatch(request)
        delay, drop = app.after_dispatch(request)
        if app.latency or delay:
            time.sleep(app.latency + delay)
        if drop:
            self.close_connection = True
            return
        try:
            if isinstance(reply, StreamReply):
                self._stream(reply, app.stream_delay)
            else:
                self._send(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, reply: JsonReply | RawReply) -> None:
        if isinstance(reply, JsonReply):
            payload = json.dumps(reply.body, ensure_ascii=False).encode()
            content_type = "application/json"
        else:
            payload, content_type = reply.content, reply.content_type
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("openai-version", "2020-10-01")
        self.send_header("openai-processing-ms", "1")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _stream(self, reply: StreamReply, delay: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("openai-version", "2020-10-01")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        for index, event in enumerate(reply.events):
            if index and delay:
                time.sleep(delay)
            data = event.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

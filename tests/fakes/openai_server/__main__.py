"""Run the fake on its own: `python -m tests.fakes.openai_server --port 8765`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import FakeOpenAIServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.openai_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="accept only this key")
    parser.add_argument("--processing-polls", type=int, default=1)
    parser.add_argument("--poll-after-ms", default="5")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--tokens-per-second",
        type=float,
        default=0.0,
        help="pace streamed answers (one SSE event per word or punctuation mark); 0: no pacing",
    )
    args = parser.parse_args(argv)

    server = FakeOpenAIServer(host=args.host, port=args.port, seed=args.seed)
    server.require_api_key = args.api_key
    server.processing_polls = args.processing_polls
    server.poll_after_ms = args.poll_after_ms
    server.latency = args.latency
    server.stream_delay = 1 / args.tokens_per_second if args.tokens_per_second > 0 else 0.0
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    server.start()
    # The first line is the base URL alone, so scripts can read it.
    print(server.base_url, flush=True)
    try:
        stopped.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

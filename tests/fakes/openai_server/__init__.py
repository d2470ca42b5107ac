"""A fake OpenAI API for tests: real HTTP/1.1 on 127.0.0.1, driven through the official SDK.

    server = FakeOpenAIServer().start()        # port 0 picks a free port
    client = openai.OpenAI(base_url=server.base_url, api_key="test")
    ...
    server.reset()                              # forget everything between tests
    server.stop()

Knobs (all restored by reset()):
    require_api_key      only this bearer key is accepted (default: any non-empty key)
    processing_polls     GETs a vector-store file stays in_progress for (0: done at attach)
    poll_after_ms        the `openai-poll-after-ms` header on vector-store file/batch answers
    latency, stream_delay  seconds before each answer / between SSE events
    check_file_types     fail files whose extension file_search does not support
    clock                callable returning the integer timestamps to use
    models               ids /v1/models lists
Helpers: fail_next(), slow_next() / drop_next() (carried out, then answered late / never),
fail_file_processing(), fail_next_response(), fail_next_run(),
queue_chat_reply(), queue_response_text(), queue_run_text(), requests / requests_to() (what was
sent and answered).
"""

from __future__ import annotations

from .server import FakeOpenAIServer, RecordedRequest

__all__ = ["FakeOpenAIServer", "RecordedRequest"]

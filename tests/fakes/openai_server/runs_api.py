"""Assistants runs and run steps over HTTP; how a run executes is in runs_execution.py."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .assistants_api import get_thread, new_thread
from .runs_execution import execute_run, strip_results
from .state import Run, Thread
from .wire import (
    DONE,
    JsonReply,
    Reply,
    Request,
    SSEEvent,
    StreamReply,
    bad_request,
    not_found,
    optional,
    paginate,
    require,
    sse,
)

if TYPE_CHECKING:
    from .server import FakeOpenAIServer, Route


def _reply(queued: dict[str, Any], events: list[SSEEvent], stream: bool) -> Reply:
    if not stream:
        return JsonReply(queued)
    return StreamReply([*events, SSEEvent(data=DONE, event="done")])


def create_run(app: FakeOpenAIServer, request: Request, thread_id: str) -> Reply:
    thread = get_thread(app, thread_id)
    body = request.body()
    queued, events = execute_run(app, thread, body, request.arg_list("include"))
    return _reply(queued, events, optional(body, "stream", bool, False))


def create_thread_and_run(app: FakeOpenAIServer, request: Request) -> Reply:
    body = request.body()
    require(body, "assistant_id", str)
    thread = new_thread(app, optional(body, "thread", dict, {}))
    queued, events = execute_run(app, thread, body, request.arg_list("include"))
    events.insert(0, sse("thread.created", thread.wire))
    return _reply(queued, events, optional(body, "stream", bool, False))


def _get_run(thread: Thread, run_id: str) -> Run:
    run = thread.runs.get(run_id)
    if run is None:
        raise not_found(f"No run found with id '{run_id}'.")
    return run


def list_runs(app: FakeOpenAIServer, request: Request, thread_id: str) -> JsonReply:
    thread = get_thread(app, thread_id)
    return JsonReply(paginate([copy.deepcopy(r.wire) for r in thread.runs.values()], request))


def retrieve_run(app: FakeOpenAIServer, request: Request, thread_id: str, run_id: str) -> JsonReply:
    return JsonReply(copy.deepcopy(_get_run(get_thread(app, thread_id), run_id).wire))


def modify_run(app: FakeOpenAIServer, request: Request, thread_id: str, run_id: str) -> JsonReply:
    run = _get_run(get_thread(app, thread_id), run_id)
    body = request.body()
    if "metadata" in body:
        run.wire["metadata"] = optional(body, "metadata", dict, {})
    return JsonReply(copy.deepcopy(run.wire))


def cancel_run(app: FakeOpenAIServer, request: Request, thread_id: str, run_id: str) -> JsonReply:
    run = _get_run(get_thread(app, thread_id), run_id)
    status = run.wire["status"]
    if status not in ("queued", "in_progress", "requires_action"):
        raise bad_request(f"Cannot cancel run with status '{status}'.")
    run.wire.update(status="cancelled", cancelled_at=app.now())
    return JsonReply(copy.deepcopy(run.wire))


def list_steps(app: FakeOpenAIServer, request: Request, thread_id: str, run_id: str) -> JsonReply:
    run = _get_run(get_thread(app, thread_id), run_id)
    include = request.arg_list("include")
    return JsonReply(paginate([strip_results(step, include) for step in run.steps], request))


def retrieve_step(
    app: FakeOpenAIServer, request: Request, thread_id: str, run_id: str, step_id: str
) -> JsonReply:
    run = _get_run(get_thread(app, thread_id), run_id)
    for step in run.steps:
        if step["id"] == step_id:
            return JsonReply(strip_results(step, request.arg_list("include")))
    raise not_found(f"No run step found with id '{step_id}'.")


RUN = "/threads/{thread_id}/runs/{run_id}"
ROUTES: list[Route] = [
    ("POST", "/threads/runs", create_thread_and_run),
    ("POST", "/threads/{thread_id}/runs", create_run),
    ("GET", "/threads/{thread_id}/runs", list_runs),
    ("GET", RUN, retrieve_run),
    ("POST", RUN, modify_run),
    ("POST", RUN + "/cancel", cancel_run),
    ("GET", RUN + "/steps", list_steps),
    ("GET", RUN + "/steps/{step_id}", retrieve_step),
]

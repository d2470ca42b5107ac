"""The fake against the real wire (recorded traffic) and against OpenAI's OpenAPI description.

Each recording in shared/openai/recordings is replayed against the fake, request by request, with
the ids the fake handed out put where the recording has the real ones. Answers must match the
wire's shape: same status class, same keys recursively (a key the fake adds must be one the wire
shows on the same kind of object in some recording, since the wire grew fields between 2025-09
and 2026-08), `null` where the wire has `null`, the same `object`/`type` values and id prefixes,
and for streams the same `event:` sequence and framing.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.spec_check import RECORDINGS_DIR, checker

RECORDINGS = sorted(RECORDINGS_DIR.glob("*.json")) if RECORDINGS_DIR.exists() else []

ID = re.compile(
    r"^(file-|vs_|vsfb_|resp_|msg_|fs_|conv_|asst_|thread_|run_|step_|call_|chatcmpl-)[\w-]+$"
)

# Multipart bodies are sanitized in most recordings; the text a replay needs to give the same
# answer shape (a citation) is taken from the recording's own search results.
UPLOAD_TEXT = {
    "favorite_foods.txt": "This file describes the favorite foods of several people.\n\n"
    "Summanus Ferdinand: tacos\nTekakwitha Effie: pizza\nFilip Carola: cake",
}

# Values that are free-form maps: their keys are data, not shape.
FREE_FORM = {"metadata", "attributes"}

# (kind, key) pairs compared by presence only, with the reason.
SHAPE_EXCEPTIONS = {
    ("thread.run", "tool_resources"): (
        "the wire echoes resources the service attached: {} in FileSearchWorks and"
        " {code_interpreter: {file_ids: []}} in FileSearchStreamingWorks for the same request"
    ),
}

# Fields whose nullness changed on the wire between recordings, with the evidence.
NULLABILITY_DRIFT = {
    "response.prompt_cache_retention": (
        "null in ResponsesToolTests (2025-11, 2026-03), 'in_memory' in ResponseUsingConversations"
        " (2026-06); the fake sends the newer value"
    ),
}

# Entries whose answer depends on ordering the fake cannot reproduce: (recording, entry index).
UNCOMPARABLE = {
    ("VectorStoresTests__CanTestGetVectorStoreFilesInBatchCollectionOptions", 6): (
        "the service orders batch files that share a created_at second by an internal key (asc"
        " and desc pages come back identical), so `after=<id>` selects different files; only the"
        " status is compared"
    ),
}

# Events repeated a model-dependent number of times; the fake splits text into its own deltas.
REPEATED = {"response.output_text.delta", "thread.message.delta", "chat.content"}

# The replay makes files searchable at once: the .NET tests query a vector store right after
# creating it, relying on the service having indexed a 32-byte file by then.
PROCESSING_POLLS_FOR_REPLAY = 0


def _load(path: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["Entries"]
    return entries


# --- SSE ------------------------------------------------------------------------------------------


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        events.append((event, "\n".join(data)))
    return events


def event_kind(event: str | None, data: Any) -> str:
    if event is not None:
        return event
    if data == "[DONE]":
        return "[DONE]"
    if not data.get("choices"):
        return "chat.usage"
    delta = data["choices"][0].get("delta", {})
    if "role" in delta:
        return "chat.role"
    return "chat.content" if delta.get("content") else "chat.finish"


def collapse(kinds: list[str]) -> list[str]:
    return [k for i, k in enumerate(kinds) if not (i and k == kinds[i - 1] and k in REPEATED)]


def decoded(events: list[tuple[str | None, str]]) -> list[tuple[str, Any]]:
    out = []
    for event, data in events:
        value = data if data == "[DONE]" else json.loads(data)
        out.append((event_kind(event, value), value))
    return out


# --- shapes ---------------------------------------------------------------------------------------


def kind_of(value: dict[str, Any], parent: str) -> str:
    if isinstance(value.get("object"), str):
        return str(value["object"])
    if isinstance(value.get("type"), str):
        return f"{parent}[{value['type']}]"
    return parent


def walk_keys(value: Any, parent: str, known: dict[str, set[str]]) -> None:
    if isinstance(value, dict):
        kind = kind_of(value, parent)
        known[kind] |= set(value)
        for key, item in value.items():
            if key not in FREE_FORM:
                walk_keys(item, f"{kind}.{key}", known)
    elif isinstance(value, list):
        for item in value:
            walk_keys(item, f"{parent}[]", known)


def recorded_bodies() -> Iterator[Any]:
    for path in RECORDINGS:
        for entry in _load(path):
            body = entry["ResponseBody"]
            if isinstance(body, list):
                for _, data in decoded(parse_sse("".join(body))):
                    yield data
            else:
                yield body


_KNOWN: dict[str, set[str]] = {}


def known_keys() -> dict[str, set[str]]:
    if not _KNOWN:
        known: dict[str, set[str]] = defaultdict(set)
        for body in recorded_bodies():
            walk_keys(body, "$", known)
        _KNOWN.update(known)
    return _KNOWN


def prefix(identifier: str) -> str:
    return re.split(r"[-_]", identifier, maxsplit=1)[0]


def compare(wire: Any, fake: Any, where: str, parent: str, problems: list[str]) -> None:
    if wire is None or fake is None:
        if (wire is None) != (fake is None) and parent not in NULLABILITY_DRIFT:
            problems.append(
                f"{where}: wire {json.dumps(wire)[:60]} vs fake {json.dumps(fake)[:60]}"
            )
        return
    if isinstance(wire, dict):
        if not isinstance(fake, dict):
            problems.append(f"{where}: wire has an object, fake has {type(fake).__name__}")
            return
        kind = kind_of(wire, parent)
        for key in sorted(wire.keys() - fake.keys()):
            problems.append(f"{where}.{key}: missing from the fake ({kind})")
        for key in sorted(fake.keys() - wire.keys() - known_keys().get(kind, set())):
            problems.append(f"{where}.{key}: never on the wire for {kind}")
        for key in ("object", "type"):
            if key in wire and key in fake and wire[key] != fake[key]:
                problems.append(f"{where}.{key}: wire {wire[key]!r}, fake {fake[key]!r}")
        for key in wire.keys() & fake.keys():
            if key in FREE_FORM or (kind, key) in SHAPE_EXCEPTIONS:
                continue
            compare(wire[key], fake[key], f"{where}.{key}", f"{kind}.{key}", problems)
    elif isinstance(wire, list):
        if not isinstance(fake, list):
            problems.append(f"{where}: wire has an array, fake has {type(fake).__name__}")
        elif bool(wire) != bool(fake):
            problems.append(f"{where}: wire has {len(wire)} items, fake {len(fake)}")
        else:
            for index, item in enumerate(fake):
                compare(
                    _counterpart(wire, fake, index),
                    item,
                    f"{where}[{index}]",
                    f"{parent}[]",
                    problems,
                )
    elif isinstance(wire, str) and ID.match(wire):
        if not isinstance(fake, str) or prefix(wire) != prefix(fake):
            problems.append(f"{where}: id {wire!r} vs {fake!r}")
    elif type(wire) is not type(fake) and not {type(wire), type(fake)} <= {int, float}:
        problems.append(f"{where}: wire {type(wire).__name__}, fake {type(fake).__name__}")


def _counterpart(wire: list[Any], fake: list[Any], index: int) -> Any:
    if len(wire) == len(fake):
        return wire[index]
    item = fake[index]
    if isinstance(item, dict):
        for candidate in wire:
            if isinstance(candidate, dict) and all(
                candidate.get(k) == item.get(k) for k in ("object", "type") if k in item
            ):
                return candidate
    return wire[0]


def learn_ids(wire: Any, fake: Any, ids: dict[str, str]) -> None:
    if isinstance(wire, dict) and isinstance(fake, dict):
        for key in wire.keys() & fake.keys():
            if key not in FREE_FORM:
                learn_ids(wire[key], fake[key], ids)
    elif isinstance(wire, list) and isinstance(fake, list) and len(wire) == len(fake):
        for pair in zip(wire, fake, strict=True):
            learn_ids(*pair, ids)
    elif isinstance(wire, str) and isinstance(fake, str) and ID.match(wire) and ID.match(fake):
        ids.setdefault(wire, fake)


def substitute(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for real in sorted(ids, key=len, reverse=True):
            value = value.replace(real, ids[real])
        return value
    if isinstance(value, list):
        return [substitute(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, ids) for key, item in value.items()}
    return value


# --- replay ---------------------------------------------------------------------------------------


def request_body(entry: dict[str, Any], ids: dict[str, str]) -> tuple[bytes | None, dict[str, str]]:
    headers = {"Authorization": "Bearer test"}
    if entry["RequestHeaders"].get("OpenAI-Beta"):
        headers["OpenAI-Beta"] = entry["RequestHeaders"]["OpenAI-Beta"]
    content_type = entry["RequestHeaders"].get("Content-Type", "")
    if content_type.startswith("multipart/form-data"):
        uploaded = entry["ResponseBody"]
        parts = [p for p in entry["RequestBody"] or [] if p.startswith("b64:")]
        filename = uploaded["filename"]
        data = (
            base64.b64decode(parts[0][4:])
            if parts
            else UPLOAD_TEXT.get(filename, f"Sanitized text of {filename}.").encode()
        )
        boundary = "fidelity-boundary"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
                f"{uploaded['purpose']}\r\n--{boundary}\r\nContent-Disposition: form-data;"
                f' name="file"; filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n'
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        return body, headers
    if entry["RequestBody"] is None:
        return None, headers
    headers["Content-Type"] = "application/json"
    return json.dumps(substitute(entry["RequestBody"], ids)).encode(), headers


def send(
    server: FakeOpenAIServer, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def replay(server: FakeOpenAIServer, recording: Path) -> list[str]:
    problems: list[str] = []
    ids: dict[str, str] = {}
    for number, entry in enumerate(_load(recording)):
        path = substitute(entry["RequestUri"].removeprefix("https://api.openai.com"), ids)
        method = entry["RequestMethod"]
        where = f"#{number} {method} {path.split('?')[0]}"
        body, headers = request_body(entry, ids)
        status, content_type, raw = send(server, method, path, body, headers)
        if status // 100 != entry["StatusCode"] // 100:
            problems.append(f"{where}: status {status}, wire {entry['StatusCode']}: {raw[:300]!r}")
            continue
        wire = entry["ResponseBody"]
        if (recording.stem, number) in UNCOMPARABLE:
            continue
        if isinstance(wire, list):
            problems += compare_streams(where, "".join(wire), raw.decode(), ids)
        else:
            fake = json.loads(raw)
            learn_ids(wire, fake, ids)
            compare(wire, fake, where, "$", problems)
        recorded = server.requests[-1]
        problems += checker().check_exchange(
            method, recorded.path, status, recorded.response, recorded.events
        )
        wire_type = entry["ResponseHeaders"].get("Content-Type", "").split(";")[0]
        if wire_type and content_type.split(";")[0] != wire_type:
            problems.append(f"{where}: content type {content_type!r}, wire {wire_type!r}")
    return problems


def compare_streams(where: str, wire_text: str, fake_text: str, ids: dict[str, str]) -> list[str]:
    problems = []
    wire_raw, fake_raw = parse_sse(wire_text), parse_sse(fake_text)
    if {e is None for e, _ in wire_raw} != {e is None for e, _ in fake_raw}:
        problems.append(f"{where}: `event:` lines differ from the wire")
    if wire_raw[-1] != fake_raw[-1] and "[DONE]" in (wire_raw[-1][1], fake_raw[-1][1]):
        problems.append(f"{where}: stream ends {fake_raw[-1]}, wire ends {wire_raw[-1]}")
    if not wire_text.endswith("\n\n") or not fake_text.endswith("\n\n"):
        problems.append(f"{where}: events must end with a blank line")
    wire_events, fake_events = decoded(wire_raw), decoded(fake_raw)
    wire_kinds = collapse([kind for kind, _ in wire_events])
    fake_kinds = collapse([kind for kind, _ in fake_events])
    if wire_kinds != fake_kinds:
        problems.append(f"{where}: events {fake_kinds} != wire {wire_kinds}")
    by_kind: dict[str, list[Any]] = defaultdict(list)
    for kind, data in wire_events:
        by_kind[kind].append(data)
    seen: dict[str, int] = defaultdict(int)
    for index, (kind, data) in enumerate(fake_events):
        candidates = by_kind.get(kind, [])
        if data == "[DONE]" or not candidates:
            continue
        position = min(seen[kind], len(candidates) - 1)
        seen[kind] += 1
        learn_ids(candidates[position], data, ids)
        # A fake event must have the shape of at least one wire event of its kind.
        attempts = []
        for candidate in candidates:
            found: list[str] = []
            compare(candidate, data, f"{where} event {index} {kind}", "$", found)
            attempts.append(found)
        problems += min(attempts, key=len)
    return problems


@pytest.mark.skipif(not RECORDINGS, reason="shared/openai/recordings is not available")
@pytest.mark.parametrize("recording", RECORDINGS, ids=[path.stem for path in RECORDINGS])
def test_replayed_recording_matches_the_wire(
    fake_openai: FakeOpenAIServer, recording: Path
) -> None:
    fake_openai.processing_polls = PROCESSING_POLLS_FOR_REPLAY
    assert replay(fake_openai, recording) == []


def test_every_served_route_is_in_the_spec(fake_openai: FakeOpenAIServer) -> None:
    missing = [
        f"{method} {template}"
        for method, template in fake_openai.route_templates
        if not checker().has_route(method, template)
    ]
    assert missing == []


@pytest.mark.skipif(not RECORDINGS, reason="shared/openai/recordings is not available")
def test_the_recordings_cover_every_api_docent_uses() -> None:
    covered = {path.stem.split("__")[0] for path in RECORDINGS}
    assert {
        "AssistantsTests",
        "ChatTests",
        "ConversationTests",
        "EmbeddingsTests",
        "FilesTests",
        "ResponsesTests",
        "ResponsesToolTests",
        "VectorStoresTests",
    } <= covered

"""Checks the fake's traffic against OpenAI's OpenAPI description (shared/openai/openapi.yaml).

Only what the spec calls `required` is checked, recursively through $ref, allOf, anyOf and oneOf.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import pytest

REFERENCE_DIR = Path(
    os.environ.get(
        "OPENAI_REFERENCE_DIR", Path(__file__).resolve().parents[3] / "shared" / "openai"
    )
)
RECORDINGS_DIR = REFERENCE_DIR / "recordings"

# Where the live wire leaves out a field the spec requires, the wire wins (see SOURCES.md and the
# recordings named here): (schema, field) pairs that are not reported.
WIRE_OVER_SPEC: dict[tuple[str, str], str] = {
    # AssistantsTests__FileSearchWorks: steps carry `expires_at` and no `metadata`.
    ("RunStepObject", "expired_at"): "the wire names it expires_at",
    ("RunStepObject", "metadata"): "run steps on the wire have no metadata",
    # Every recorded Response (2025-11 to 2026-06) has input_tokens_details {cached_tokens} only.
    ("ResponseUsage.input_tokens_details", "cache_write_tokens"): "not on the recorded wire",
}


@functools.cache
def load_spec() -> dict[str, Any]:
    import yaml

    path = REFERENCE_DIR / "openapi.yaml"
    if not path.exists():
        pytest.skip(f"OpenAI reference data not found at {path}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    return spec


@functools.cache
def checker() -> SpecChecker:
    return SpecChecker(load_spec())


class SpecChecker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.schemas: dict[str, Any] = spec["components"]["schemas"]
        self.templates = [
            (template, re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"))
            for template in spec["paths"]
            if "?" not in template
        ]

    # --- routes -------------------------------------------------------------------------------

    def has_route(self, method: str, template: str) -> bool:
        return method.lower() in self.spec["paths"].get(template, {})

    def template_for(self, path: str) -> str | None:
        path = path.removeprefix("/v1")
        matches = [template for template, pattern in self.templates if pattern.match(path)]
        # The most literal template wins (/threads/runs over /threads/{thread_id}).
        return min(matches, key=lambda t: t.count("{"), default=None)

    # --- schemas ------------------------------------------------------------------------------

    def resolve(self, schema: Any, name: str = "") -> tuple[dict[str, Any], str]:
        while isinstance(schema, dict) and "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.schemas[name]
        return (schema if isinstance(schema, dict) else {}), name

    def _properties(self, schema: dict[str, Any]) -> dict[str, Any]:
        props = dict(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            props.update(self._properties(self.resolve(part)[0]))
        return props

    def _discriminate(self, variants: list[tuple[dict[str, Any], str]], value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        for field in ("type", "object", "event"):
            if field not in value:
                continue
            for variant in variants:
                prop = self.resolve(self._properties(variant[0]).get(field, {}))[0]
                if value[field] in (prop.get("enum") or []):
                    return variant
        return None

    @staticmethod
    def _type_ok(schema: dict[str, Any], value: Any) -> bool:
        expected = schema.get("type")
        kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
        if expected in kinds:
            return isinstance(value, kinds[expected])
        if expected in ("integer", "number"):
            return isinstance(value, int | float) and not isinstance(value, bool)
        return True

    def violations(
        self, schema: Any, value: Any, where: str = "$", depth: int = 0, name: str = ""
    ) -> list[str]:
        """`where`-paths of required fields missing from `value`; `name` is the schema's name."""
        resolved, name = self.resolve(schema, name)
        if depth > 60:
            return []
        found: list[str] = []
        for part in resolved.get("allOf", []):
            found += self.violations(part, value, where, depth + 1, name)
        for key in ("anyOf", "oneOf"):
            if key not in resolved or value is None:
                continue
            variants = [self.resolve(variant, name) for variant in resolved[key]]
            chosen = self._discriminate(variants, value)
            if chosen is not None:
                found += self.violations(chosen[0], value, where, depth + 1, chosen[1])
                continue
            results: list[list[str]] = [
                self.violations(variant, value, where, depth + 1, variant_name)
                for variant, variant_name in variants
                if variant.get("type") != "null" and self._type_ok(variant, value)
            ]
            if results and all(results):
                fewest: list[str] = min(results, key=len)
                found += fewest
        if isinstance(value, dict):
            properties = resolved.get("properties", {})
            for field in resolved.get("required", []):
                if field not in value and (name, field) not in WIRE_OVER_SPEC:
                    found.append(f"{where}.{field} (required by {name or 'an inline schema'})")
            for field, item in value.items():
                if field in properties and item is not None:
                    found += self.violations(
                        properties[field], item, f"{where}.{field}", depth + 1, f"{name}.{field}"
                    )
        elif isinstance(value, list) and "items" in resolved:
            for index, item in enumerate(value):
                found += self.violations(
                    resolved["items"], item, f"{where}[{index}]", depth + 1, f"{name}[]"
                )
        return found

    # --- exchanges ----------------------------------------------------------------------------

    def response_schema(self, method: str, path: str, status: int, content_type: str) -> Any:
        template = self.template_for(path)
        if template is None:
            return None
        operation = self.spec["paths"][template].get(method.lower(), {})
        responses = operation.get("responses", {})
        response = responses.get(str(status)) or responses.get("default") or {}
        response = self.resolve(response)[0] if "$ref" in response else response
        content = response.get("content", {})
        return (content.get(content_type) or {}).get("schema")

    def check_exchange(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        events: list[tuple[str | None, Any]] | None = None,
    ) -> list[str]:
        """Required fields the fake left out of one answer (JSON body or SSE events)."""
        where = f"{method} {path}"
        if status >= 400:
            if body is None:
                return []
            return [
                f"{where}: {v}"
                for v in self.violations({"$ref": "#/components/schemas/ErrorResponse"}, body)
            ]
        if events is None:
            schema = self.response_schema(method, path, status, "application/json")
            if schema is None or body is None:
                return []
            return [f"{where}: {v}" for v in self.violations(schema, body)]
        found = []
        stream_schema = self.response_schema(method, path, status, "text/event-stream")
        for index, (event, data) in enumerate(events):
            if data == "[DONE]" and event is None:
                continue
            if event is not None and (event.startswith("thread.") or event == "done"):
                # Assistants streams: the spec describes {event, data} pairs.
                value, schema = (
                    {"event": event, "data": data},
                    {"$ref": "#/components/schemas/AssistantStreamEvent"},
                )
            else:
                value, schema = data, stream_schema
            if schema is not None:
                found += [f"{where} event {index}: {v}" for v in self.violations(schema, value)]
        return found

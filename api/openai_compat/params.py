"""What a /v1 request may carry: the parameters Docent honours, those it accepts and ignores,
and those it refuses, checked on the raw JSON body before anything is answered or stored.

Every /v1 handler that takes a JSON body starts with::

    payload = openai_request(request, schema=ChatCompletionIn, endpoint="chat.completions")

(`endpoint="responses"` for /v1/responses). That one call

- reads the body as a JSON object (400 otherwise);
- refuses what Docent cannot honour with a 400 that names the parameter in `param`, instead of
  a 200 the client then misreads: a JSON schema or JSON mode, tools and tool choices other than
  "none", log probabilities, several choices, audio, web search, background runs;
- accepts the sampling parameters (temperature, top_p, penalties, max tokens, seed, stop, ...)
  but checks their types and ranges as OpenAI does (``"temperature": "hot"`` is a 400
  ``invalid_type``), then ignores them: the corpus's strategy chooses how it samples;
- bounds the total size of what a client sends as history (all messages, or all input items),
  `settings.API_MAX_INPUT_CHARS` characters, with a 400 ``context_length_exceeded`` naming the
  limit (the code LangChain and LiteLLM recognise to trim their history);
- validates the body against `schema` and reports problems with OpenAI's codes
  (``missing_required_parameter``, ``invalid_type``, ``empty_array``, ...).

Unknown parameters are ignored, as they were before: clients send vendor extensions.
Errors are `ApiError`s; the /v1 error handler renders them in OpenAI's shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import pydantic
from django.conf import settings
from django.http import HttpRequest

from api.errors import ApiError

Endpoint = Literal["chat.completions", "responses"]
S = TypeVar("S", bound=pydantic.BaseModel)

# --- types -----------------------------------------------------------------------------------

_NAMES = {
    "number": "a decimal",
    "integer": "an integer",
    "boolean": "a boolean",
    "string": "a string",
    "object": "an object",
    "array": "an array",
}


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def _expected(kinds: tuple[str, ...]) -> str:
    # An integer is a decimal too; say "a decimal" alone, as OpenAI does.
    names = [_NAMES[kind] for kind in kinds if not (kind == "integer" and "number" in kinds)]
    return names[0] if len(names) == 1 else f"one of {', '.join(names[:-1])} or {names[-1]}"


@dataclass(frozen=True)
class Param:
    """A parameter's JSON types (null is always allowed, as in OpenAI's spec) and numeric range,
    and `refuse`: given the value and the whole body, why Docent cannot honour it (or None)."""

    kinds: tuple[str, ...]
    minimum: float | None = None
    maximum: float | None = None
    refuse: Callable[[Any, Mapping[str, Any]], Refusal | None] | None = None


@dataclass(frozen=True)
class Refusal:
    message: str
    code: Literal["unsupported_parameter", "unsupported_value"] = "unsupported_value"
    param: str | None = None  # a sub-field such as "text.format"; the parameter itself if None


NUMBER = ("number", "integer")


def _check_type(name: str, value: Any, spec: Param) -> None:
    kind = _kind_of(value)
    # Integers are decimals too; a whole float (2.0) is an integer as JSON Schema has it.
    matches = kind in spec.kinds or (
        kind == "number" and "integer" in spec.kinds and float(value).is_integer()
    )
    if not matches:
        raise ApiError(
            400,
            "invalid_type",
            f"Invalid type for '{name}': expected {_expected(spec.kinds)}, "
            f"but got {_NAMES.get(kind, 'null')} instead.",
            field=name,
        )
    if kind in ("number", "integer"):
        label = "integer" if spec.kinds[0] == "integer" else "decimal"
        if spec.minimum is not None and value < spec.minimum:
            raise ApiError(
                400,
                f"{label}_below_min_value",
                f"Invalid '{name}': {label} below minimum value. Expected a value >= "
                f"{_number(spec.minimum)}, but got {_number(value)} instead.",
                field=name,
            )
        if spec.maximum is not None and value > spec.maximum:
            raise ApiError(
                400,
                f"{label}_above_max_value",
                f"Invalid '{name}': {label} above maximum value. Expected a value <= "
                f"{_number(spec.maximum)}, but got {_number(value)} instead.",
                field=name,
            )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --- refusals --------------------------------------------------------------------------------

WHY_NO_TOOLS = "Docent answers from the corpus's documents and does not call tools or functions"


def _only_one_choice(value: Any, body: Mapping[str, Any]) -> Refusal | None:
    if value is None or value == 1:
        return None
    return Refusal(f"Unsupported value: Docent writes one answer per request (n=1); got n={value}.")


def _no_logprobs(value: Any, body: Mapping[str, Any]) -> Refusal | None:
    if not value:
        return None
    return Refusal(
        "Unsupported value: 'logprobs' must be false. Docent's strategies do not report "
        "token log probabilities.",
    )


def _no_top_logprobs(value: Any, body: Mapping[str, Any]) -> Refusal | None:
    if not value:
        return None
    return Refusal(
        "Unsupported parameter: 'top_logprobs'. Docent's strategies do not report token log "
        "probabilities.",
        code="unsupported_parameter",
    )


def _text_format(format_: Any, *, param: str) -> Refusal | None:
    if format_ is None:
        return None
    if not isinstance(format_, dict):
        raise ApiError(
            400,
            "invalid_type",
            f"Invalid type for '{param}': expected an object, "
            f"but got {_NAMES.get(_kind_of(format_), 'null')} instead.",
            field=param,
        )
    kind = format_.get("type")
    if kind in (None, "text"):
        return None
    if kind in ("json_schema", "json_object"):
        return Refusal(
            f"Unsupported value: '{param}' of type '{kind}'. Docent answers in prose with cited "
            'sources, not in JSON; leave it out or use {"type": "text"}.',
            param=f"{param}.type",
        )
    raise ApiError(
        400,
        "invalid_value",
        f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object' and 'json_schema'.",
        field=f"{param}.type",
    )


def _response_format(value: Any, body: Mapping[str, Any]) -> Refusal | None:
    refusal = _text_format(value, param="response_format")
    # The parameter itself is what a client must change.
    return Refusal(refusal.message) if refusal else None


def _text_config(value: Any, body: Mapping[str, Any]) -> Refusal | None:
    return _text_format(value.get("format"), param="text.format")


def _tools(choice_param: str) -> Callable[[Any, Mapping[str, Any]], Refusal | None]:
    def refuse(value: Any, body: Mapping[str, Any]) -> Refusal | None:
        if not value or body.get(choice_param) == "none":
            return None
        name = "tools" if choice_param == "tool_choice" else "functions"
        return Refusal(
            f"Unsupported parameter: '{name}'. {WHY_NO_TOOLS}; leave '{name}' out or send "
            f"'{choice_param}': 'none'.",
            code="unsupported_parameter",
        )

    return refuse


def _tool_choice(name: str) -> Callable[[Any, Mapping[str, Any]], Refusal | None]:
    def refuse(value: Any, body: Mapping[str, Any]) -> Refusal | None:
        if value in (None, "none"):
            return None
        shown = value if isinstance(value, str) else json.dumps(value)
        return Refusal(
            f"Unsupported value: '{name}' must be 'none', got {shown}. {WHY_NO_TOOLS}.",
        )

    return refuse


def _responses_tools(value: Any, body: Mapping[str, Any]) -> Refusal | None:
    # A file_search tool is what Docent does anyway: it searches the corpus named by `model`.
    for index, tool in enumerate(value or []):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "file_search":
            return Refusal(
                f"Unsupported value: 'tools[{index}].type' is {kind!r}. Docent searches the "
                "corpus named by 'model' (a 'file_search' tool is accepted and means the same); "
                "it cannot call other tools or functions.",
                param=f"tools[{index}].type",
            )
    return None


def _responses_tool_choice(value: Any, body: Mapping[str, Any]) -> Refusal | None:
    if value in (None, "none", "auto") or (
        isinstance(value, dict) and value.get("type") == "file_search"
    ):
        return None
    shown = value if isinstance(value, str) else json.dumps(value)
    return Refusal(
        f"Unsupported value: 'tool_choice' must be 'none', 'auto' or a file_search choice, got "
        f"{shown}. {WHY_NO_TOOLS}.",
    )


def _only_text_modality(value: Any, body: Mapping[str, Any]) -> Refusal | None:
    others = [m for m in value or [] if m != "text"]
    if not others:
        return None
    return Refusal(f"Unsupported value: 'modalities' may only hold 'text', got {others[0]!r}.")


def _unsupported(what: str) -> Callable[[Any, Mapping[str, Any]], Refusal | None]:
    def refuse(value: Any, body: Mapping[str, Any]) -> Refusal | None:
        if value is None or value is False or value == {}:
            return None
        return Refusal(what, code="unsupported_parameter")

    return refuse


def _no_logprobs_included(value: Any, body: Mapping[str, Any]) -> Refusal | None:
    for index, item in enumerate(value or []):
        if not isinstance(item, str):
            raise ApiError(
                400,
                "invalid_type",
                f"Invalid type for 'include[{index}]': expected a string, "
                f"but got {_NAMES.get(_kind_of(item), 'null')} instead.",
                field=f"include[{index}]",
            )
        if item.endswith("logprobs"):
            return Refusal(
                f"Unsupported value: 'include[{index}]' is {item!r}. Docent's strategies do "
                "not report token log probabilities.",
                param=f"include[{index}]",
            )
    return None


# --- the parameters of each endpoint ---------------------------------------------------------

# Accepted by both, and ignored where not used: the corpus's strategy decides how it samples.
_SAMPLING: dict[str, Param] = {
    "temperature": Param(NUMBER, 0, 2),
    "top_p": Param(NUMBER, 0, 1),
    "metadata": Param(("object",)),
    "user": Param(("string",)),
    "safety_identifier": Param(("string",)),
    "prompt_cache_key": Param(("string",)),
    "prompt_cache_retention": Param(("string",)),
    "prompt_cache_options": Param(("object",)),
    "service_tier": Param(("string",)),
    "store": Param(("boolean",)),
    "stream": Param(("boolean",)),
    "stream_options": Param(("object",)),
    "parallel_tool_calls": Param(("boolean",)),
    "moderation": Param(("object", "string", "boolean")),
    "model": Param(("string",)),
}

PARAMS: dict[Endpoint, dict[str, Param]] = {
    "chat.completions": {
        **_SAMPLING,
        "messages": Param(("array",)),
        "frequency_penalty": Param(NUMBER, -2, 2),
        "presence_penalty": Param(NUMBER, -2, 2),
        "max_tokens": Param(("integer",), 1),
        "max_completion_tokens": Param(("integer",), 1),
        "seed": Param(("integer",)),
        "stop": Param(("string", "array")),
        "logit_bias": Param(("object",)),
        "reasoning_effort": Param(("string",)),
        "verbosity": Param(("string",)),
        "prediction": Param(("object",)),  # a latency hint: ignoring it changes no answer
        "n": Param(("integer",), 1, 128, _only_one_choice),
        "logprobs": Param(("boolean",), refuse=_no_logprobs),
        "top_logprobs": Param(("integer",), 0, 20, _no_top_logprobs),
        "response_format": Param(("object",), refuse=_response_format),
        # The choice first: when it asks for a tool, it is what the client must change.
        "tool_choice": Param(("string", "object"), refuse=_tool_choice("tool_choice")),
        "tools": Param(("array",), refuse=_tools("tool_choice")),
        "function_call": Param(("string", "object"), refuse=_tool_choice("function_call")),
        "functions": Param(("array",), refuse=_tools("function_call")),
        "modalities": Param(("array",), refuse=_only_text_modality),
        "audio": Param(
            ("object",),
            refuse=_unsupported("Unsupported parameter: 'audio'. Docent answers in text."),
        ),
        "web_search_options": Param(
            ("object",),
            refuse=_unsupported(
                "Unsupported parameter: 'web_search_options'. Docent answers from the corpus's "
                "documents only, never from the web."
            ),
        ),
    },
    "responses": {
        **_SAMPLING,
        "input": Param(("string", "array")),
        "instructions": Param(("string", "array")),
        "previous_response_id": Param(("string",)),
        "conversation": Param(("string", "object")),
        "max_output_tokens": Param(("integer",), 16),
        "max_tool_calls": Param(("integer",), 1),
        "reasoning": Param(("object",)),
        "truncation": Param(("string",)),
        "context_management": Param(("array", "object")),
        "text": Param(("object",), refuse=_text_config),
        "top_logprobs": Param(("integer",), 0, 20, _no_top_logprobs),
        "include": Param(("array",), refuse=_no_logprobs_included),
        "tool_choice": Param(("string", "object"), refuse=_responses_tool_choice),
        "tools": Param(("array",), refuse=_responses_tools),
        "background": Param(
            ("boolean",),
            refuse=_unsupported(
                "Unsupported parameter: 'background'. Docent answers within the request; "
                "use 'stream': true to see the answer as it is written."
            ),
        ),
        "prompt": Param(
            ("object",),
            refuse=_unsupported(
                "Unsupported parameter: 'prompt'. Reusable prompts live at OpenAI; send "
                "'input' (and 'instructions') instead."
            ),
        ),
    },
}

# Where each endpoint's history is: every string in it counts towards API_MAX_INPUT_CHARS.
HISTORY_PARAM: dict[Endpoint, str] = {"chat.completions": "messages", "responses": "input"}


def openai_params_check(body: Mapping[str, Any], *, endpoint: Endpoint) -> None:
    """Raise an `ApiError` (400, `param` named) for the first parameter of `body` that has the
    wrong type or range, or that Docent cannot honour; then bound the history's size."""
    for name, spec in PARAMS[endpoint].items():
        value = body.get(name)
        if value is None:
            continue
        _check_type(name, value, spec)
        refusal = spec.refuse(value, body) if spec.refuse else None
        if refusal is not None:
            raise ApiError(400, refusal.code, refusal.message, field=refusal.param or name)
    history = HISTORY_PARAM[endpoint]
    history_size_check(body.get(history), param=history)


def history_size_check(value: Any, *, param: str) -> None:
    """A 400 `context_length_exceeded` when the strings in `value` (messages or input items,
    however nested) hold more than `settings.API_MAX_INPUT_CHARS` characters in all."""
    limit: int = settings.API_MAX_INPUT_CHARS
    total = _chars(value)
    if total > limit:
        raise ApiError(
            400,
            "context_length_exceeded",
            f"The '{param}' hold {total:,} characters in all; Docent accepts at most {limit:,} "
            f"in one request (API_MAX_INPUT_CHARS). Send fewer or shorter earlier turns.",
            field=param,
        )


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_chars(item) for item in value.values())
    if isinstance(value, list):
        return sum(_chars(item) for item in value)
    return 0


# --- the body and its schema -----------------------------------------------------------------


def openai_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object, or a 400 in OpenAI's words."""
    try:
        body = json.loads(request.body or b"null")
    except (UnicodeDecodeError, ValueError):
        raise ApiError(
            400,
            "invalid_json",
            "We could not parse the JSON body of your request. The body must be a JSON object; "
            "send it with 'Content-Type: application/json'.",
        ) from None
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "invalid_json",
            f"The request body must be a JSON object, not {_NAMES.get(_kind_of(body), 'null')}.",
        )
    return body


def openai_schema_parse(schema: type[S], body: Mapping[str, Any]) -> S:
    """`body` as `schema`, with pydantic's complaints in OpenAI's words and codes."""
    try:
        return schema.model_validate(body)
    except pydantic.ValidationError as exc:
        raise validation_error(exc) from None


def openai_request(request: HttpRequest, *, schema: type[S], endpoint: Endpoint) -> S:
    """Read, check (`openai_params_check`) and parse a /v1 request body; see the module's
    docstring. /v1/chat/completions and /v1/responses both start with it."""
    body = openai_body(request)
    openai_params_check(body, endpoint=endpoint)
    return openai_schema_parse(schema, body)


_TYPE_ERRORS = {
    "string_type": "a string",
    "list_type": "an array",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a decimal",
    "float_parsing": "a decimal",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}
# The tags pydantic adds to an error's location for the member of a union that failed.
_UNION_TAG = re.compile(r"^(str|int|float|bool|none|list|dict)$|[\[\]\-(),]")


def validation_error(exc: pydantic.ValidationError) -> ApiError:
    """The first problem pydantic found, as OpenAI reports it."""
    errors = exc.errors()
    first = errors[0]
    loc = _location(first["loc"])
    path = _path(loc)
    # A value that fits no member of a union fails once per member: name every type expected.
    same = [e for e in errors if _location(e["loc"]) == loc]
    kinds = [_TYPE_ERRORS[e["type"]] for e in same if e["type"] in _TYPE_ERRORS]
    kind = first["type"]
    value = first.get("input")
    if kind == "missing":
        return ApiError(
            400,
            "missing_required_parameter",
            f"Missing required parameter: '{path}'.",
            field=path,
        )
    if kinds and len(kinds) == len(same):
        got = _NAMES.get(_kind_of(value), "null")
        expected = kinds[0] if len(kinds) == 1 else f"one of {', '.join(dict.fromkeys(kinds))}"
        return ApiError(
            400,
            "invalid_type",
            f"Invalid type for '{path}': expected {expected}, but got {got} instead.",
            field=path,
        )
    ctx = first.get("ctx") or {}
    if kind == "too_short" and isinstance(value, list) and not value:
        return ApiError(
            400,
            "empty_array",
            f"Invalid '{path}': empty array. Expected an array with minimum length "
            f"{ctx.get('min_length', 1)}, but got an empty array instead.",
            field=path,
        )
    if kind == "string_too_long" and isinstance(value, str):
        return ApiError(
            400,
            "string_above_max_length",
            f"Invalid '{path}': string too long. Expected a string with maximum length "
            f"{ctx.get('max_length')}, but got a string with length {len(value)} instead.",
            field=path,
        )
    message = str(first.get("msg", "Invalid value.")).removeprefix("Value error, ")
    return ApiError(
        400, "invalid_value", f"Invalid value for '{path}': {message}", field=path or None
    )


def _location(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    kept: list[int | str] = []
    for part in loc:
        if isinstance(part, str) and _UNION_TAG.search(part):
            break
        kept.append(part)
    return tuple(kept)


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path

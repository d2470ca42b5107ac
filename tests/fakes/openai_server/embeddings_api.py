"""/v1/embeddings (hashed bag-of-words vectors) and /v1/models."""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from typing import TYPE_CHECKING, Any

from .text import tokenize
from .wire import ApiError, JsonReply, Request, bad_request, optional, require

if TYPE_CHECKING:
    from .server import FakeOpenAIServer, Route

NATIVE_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
OTHER_MODEL_DIMENSIONS = 384
MAX_INPUTS = 2048

# (id, created, owned_by) as /v1/models lists them.
MODELS: list[tuple[str, int, str]] = [
    ("gpt-4o", 1715367049, "system"),
    ("gpt-4o-mini", 1721172741, "system"),
    ("gpt-4.1", 1744316542, "system"),
    ("gpt-4.1-mini", 1744318173, "system"),
    ("gpt-5-mini", 1754425928, "system"),
    ("text-embedding-3-small", 1705948997, "system"),
    ("text-embedding-3-large", 1705953180, "system"),
    ("text-embedding-ada-002", 1671217299, "openai-internal"),
]

_TOKEN = re.compile(r"\w+|[^\w\s]")


def _features(item: str | list[int]) -> list[tuple[str, float]]:
    if isinstance(item, list):
        return [(f"#{token}", 1.0) for token in item]
    features: list[tuple[str, float]] = []
    for word in tokenize(item):
        features.append((f"w:{word}", 1.0))
        padded = f"<{word}>"
        features += [(f"c:{padded[i : i + 3]}", 0.25) for i in range(len(padded) - 2)]
    return features or [(f"raw:{item}", 1.0)]


def embed(item: str | list[int], *, model: str, dimensions: int) -> list[float]:
    """Unit vector in which texts sharing words point the same way; float32-exact values."""
    vector = [0.0] * dimensions
    for feature, weight in _features(item):
        digest = hashlib.sha256(f"{model}\0{feature}".encode()).digest()
        for offset in (0, 5):
            index = int.from_bytes(digest[offset : offset + 4], "little") % dimensions
            sign = 1.0 if digest[offset + 4] & 1 else -1.0
            vector[index] += sign * weight
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(value / norm for value in vector))
    return list(struct.unpack(f"<{dimensions}f", packed))


def _inputs(raw: Any) -> list[str | list[int]]:
    invalid = bad_request(
        "'$.input' is invalid. Please check the API reference:"
        " https://platform.openai.com/docs/api-reference."
    )
    if isinstance(raw, str):
        items: list[Any] = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        items = [raw]
    elif isinstance(raw, list):
        items = raw
    else:
        raise invalid
    if not items or len(items) > MAX_INPUTS:
        raise invalid
    for item in items:
        if isinstance(item, str):
            if not item:
                raise invalid
        elif not (isinstance(item, list) and item and all(isinstance(x, int) for x in item)):
            raise invalid
    return items


def create(app: FakeOpenAIServer, request: Request) -> JsonReply:
    body = request.body()
    model = require(body, "model", str)
    items = _inputs(require(body, "input", (str, list)))
    encoding = optional(body, "encoding_format", str, "float")
    if encoding not in ("float", "base64"):
        raise bad_request(
            f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
        )
    native = NATIVE_DIMENSIONS.get(model, OTHER_MODEL_DIMENSIONS)
    dimensions = optional(body, "dimensions", int)
    if dimensions is not None:
        if dimensions < 1:
            # Message, param and code exactly as the recordings show them.
            raise bad_request(f"{dimensions} is less than the minimum of 1 - 'dimensions'")
        if model == "text-embedding-ada-002":
            raise bad_request("This model does not support specifying dimensions.")
        if model in NATIVE_DIMENSIONS and dimensions > native:
            raise bad_request(
                f"This model does not support specifying dimensions greater than {native}."
            )
    size = dimensions or native
    data = []
    for index, item in enumerate(items):
        vector = embed(item, model=model, dimensions=size)
        encoded: Any = vector
        if encoding == "base64":
            encoded = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(
        len(item) if isinstance(item, list) else len(_TOKEN.findall(item)) for item in items
    )
    return JsonReply(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _model_wire(model_id: str) -> dict[str, Any]:
    for known, created, owner in MODELS:
        if known == model_id:
            return {"id": known, "object": "model", "created": created, "owned_by": owner}
    return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "system"}


def list_models(app: FakeOpenAIServer, request: Request) -> JsonReply:
    return JsonReply({"object": "list", "data": [_model_wire(m) for m in app.models]})


def retrieve_model(app: FakeOpenAIServer, request: Request, model: str) -> JsonReply:
    if model not in app.models:
        raise ApiError(
            404,
            f"The model '{model}' does not exist or you do not have access to it.",
            code="model_not_found",
        )
    return JsonReply(_model_wire(model))


ROUTES: list[Route] = [
    ("POST", "/embeddings", create),
    ("GET", "/models", list_models),
    ("GET", "/models/{model}", retrieve_model),
]

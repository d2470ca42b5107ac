"""OpenAI-compatible endpoints under /v1/: corpora are models, questions are chat completions.

Any OpenAI client works with `base_url=<site>/v1` and a Docent token as the API key. The answer
comes from the corpus's strategy, with citations as [n] markers, a "Sources:" list appended to
the text and the citations in an extra top-level `citations` field. Every call is stored as a
conversation of the token's user (the client's earlier turns included) credited to the token.

Wire shapes follow OpenAI's (see ../shared/openai/recordings): streaming answers are bare
`data:` lines of `chat.completion.chunk` objects ending with `data: [DONE]`; errors are
`{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

from ninja import NinjaAPI

from api.auth import TokenAuth
from api.errors import install_error_handlers, with_json_method_errors
from api.openai_compat import (
    assistants,
    completions,
    conversations,
    corpora,
    files,
    responses,
    threads,
    vector_stores,
)
from api.openai_compat.errors import render_error, unknown_endpoint

api = NinjaAPI(
    title="Docent OpenAI-compatible API",
    version="1",
    urls_namespace="openai_api",
    auth=TokenAuth(),
    openapi_url=None,
    docs_url=None,
)
install_error_handlers(api, render_error)
api.add_router("", corpora.router)
api.add_router("", completions.router)
api.add_router("", responses.router)
api.add_router("", conversations.router)
for module in (assistants, threads, vector_stores, files):  # Assistants v2 (legacy clients)
    api.add_router("", module.router)
urls = with_json_method_errors(api.urls, render_error)

__all__ = ["api", "unknown_endpoint", "urls"]

"""Time to first token and total time through Docent's streaming path, beside a direct SDK call
to the same server, in one run.

    .venv/bin/python bench/ttft.py [--rounds 40]

The fake OpenAI server of tests/fakes runs in this process's threads with zero added latency.
For each strategy the same question is asked --rounds times, alternating:
- Docent: chat.services.message_ask on a conversation (what the web UI and API stream): stores
  the question, runs the strategy (manual retrieval: query embedding + hybrid search + Chat
  Completions; File Search: Responses with file_search), streams deltas, stores the answer;
- direct: the official SDK streaming the same kind of request straight to the server.
"Added" is Docent's time to first token minus the direct one, per round. Then Docent's two
OpenAI-compatible streaming endpoints over the same corpus, side by side: /v1/chat/completions
and /v1/responses (the ASGI app in process, a token of a reader, the first text delta of each
stream: a `chat.completion.chunk` with content, a `response.output_text.delta`). Last, the
local default with no model at all (an extractive answer) is timed on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import time

from _setup import ROOT, django_setup, median, percentile

DOCS = {
    "meals.md": "# Travel\n\nMeal expenses are reimbursed up to 45 euros per day abroad.\n"
    "Receipts must be uploaded within thirty days of the end of the trip.\n",
    "cars.md": "# Cars\n\nCompany cars are leased for four years.\n",
}
QUESTION = "How much is the meal allowance abroad?"


def corpus_with_docs(slug: str, backend: str):
    from documents import services
    from documents.models import Corpus

    existing = Corpus.objects.filter(slug=slug).first()
    if existing:
        services.corpus_delete(corpus=existing)
    corpus = services.corpus_create(name=slug, slug=slug, index_backend=backend)
    for name, text in DOCS.items():
        outcome = services.document_upload(
            corpus=corpus, file=io.BytesIO(text.encode()), filename=name
        )
        services.document_ingest(document_id=outcome.document.pk)
    return corpus


def measure_docent(corpus, strategy: str) -> tuple[float, float]:
    from chat import services
    from chat.strategies.base import TextDelta

    conversation = services.conversation_start(corpus=corpus, user=None, strategy=strategy)
    started = time.perf_counter()
    first = None
    for event in services.message_ask(conversation=conversation, question=QUESTION):
        if first is None and isinstance(event, TextDelta):
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    assert first is not None, "no text streamed"
    return first * 1000, total * 1000


def measure_direct_chat(client) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    stream = client.chat.completions.create(
        model="fake-chat",
        messages=[
            {"role": "system", "content": "Answer from the sources."},
            {"role": "user", "content": f'<source id="1">{DOCS["meals.md"]}</source>\n\n'
             f"Question: {QUESTION}"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    assert first is not None
    return first * 1000, total * 1000


def measure_direct_responses(client, vector_store_id: str) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    stream = client.responses.create(
        model="gpt-4.1-mini",
        input=QUESTION,
        tools=[{"type": "file_search", "vector_store_ids": [vector_store_id]}],
        include=["file_search_call.results"],
        stream=True,
    )
    for event in stream:
        if first is None and event.type == "response.output_text.delta":
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    assert first is not None
    return first * 1000, total * 1000


def v1_token(corpus) -> str:
    """A query token of a reader of `corpus` (a bench user made for it)."""
    from django.contrib.auth.models import User

    from api import services
    from api.scopes import scopes_parse
    from documents.models import CorpusMembership, Role

    user, _ = User.objects.get_or_create(username="bench-ttft")
    CorpusMembership.objects.get_or_create(corpus=corpus, user=user, defaults={"role": Role.READER})
    _, plaintext = services.token_create(
        user=user, name="bench ttft", scopes=scopes_parse([f"{corpus.slug}:query"])
    )
    return plaintext


V1_BODIES = {
    "/v1/chat/completions": lambda slug: {
        "model": slug, "messages": [{"role": "user", "content": QUESTION}], "stream": True,
    },
    "/v1/responses": lambda slug: {"model": slug, "input": QUESTION, "stream": True},
}  # fmt: skip
V1_FIRST_TEXT = {
    "/v1/chat/completions": '"content": "',  # the role chunk's content is ""
    "/v1/responses": "response.output_text.delta",
}


def measure_v1(path: str, slug: str, token: str) -> tuple[float, float]:
    from django.test import AsyncClient

    async def run() -> tuple[float, float]:
        started = time.perf_counter()
        first = None
        response = await AsyncClient().post(
            path,
            json.dumps(V1_BODIES[path](slug)),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.status_code
        async for chunk in response.streaming_content:
            text = chunk.decode() if isinstance(chunk, bytes) else chunk
            if first is None and V1_FIRST_TEXT[path] in text and '"content": ""' not in text:
                first = time.perf_counter() - started
        total = time.perf_counter() - started
        assert first is not None, f"{path}: no text streamed"
        return first * 1000, total * 1000

    return asyncio.run(run())


def report_v1(chat: list[tuple[float, float]], responses: list[tuple[float, float]]) -> None:
    added = [r[0] - c[0] for r, c in zip(responses, chat, strict=True)]
    print(f"\nDocent /v1 streaming, manual_retrieval corpus ({len(chat)} rounds)")
    for name, runs in (("/v1/chat/completions", chat), ("/v1/responses", responses)):
        print(f"  {name:21} first token p50 {median([r[0] for r in runs]):6.1f} ms, "
              f"p95 {percentile([r[0] for r in runs], 95):6.1f} ms; "
              f"total p50 {median([r[1] for r in runs]):6.1f} ms")  # fmt: skip
    print(f"  responses minus chat completions, first token: p50 {median(added):.1f} ms")


def report(name: str, docent: list[tuple[float, float]], direct: list[tuple[float, float]]):
    added = [d[0] - s[0] for d, s in zip(docent, direct, strict=True)]
    print(f"\n{name} ({len(docent)} rounds)")
    print(f"  first token  Docent p50 {median([d[0] for d in docent]):6.1f} ms"
          f"  direct SDK p50 {median([s[0] for s in direct]):6.1f} ms")  # fmt: skip
    print(f"  total        Docent p50 {median([d[1] for d in docent]):6.1f} ms"
          f"  direct SDK p50 {median([s[1] for s in direct]):6.1f} ms")  # fmt: skip
    print(f"  added to first token: p50 {median(added):.1f} ms, p95 {percentile(added, 95):.1f} ms"
          "  (target p50 < 50 ms)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    import sys

    sys.path.insert(0, str(ROOT))
    django_setup()
    import openai
    from django.conf import settings
    from django.test import override_settings

    from tests.fakes.openai_server import FakeOpenAIServer

    server = FakeOpenAIServer().start()
    server.processing_polls = 0
    client = openai.OpenAI(base_url=server.base_url, api_key="bench", max_retries=0)
    manual = {
        **settings.CHAT_STRATEGIES["manual_retrieval"],
        "OPTIONS": {
            **settings.CHAT_STRATEGIES["manual_retrieval"]["OPTIONS"],
            "base_url": server.base_url,
            "api_key": "bench",
            "model": "fake-chat",
        },
    }
    with override_settings(
        ALLOWED_HOSTS=["testserver"],
        API_RATE_LIMIT_PER_MINUTE=0,
        OPENAI_BASE_URL=server.base_url,
        OPENAI_API_KEY="bench",
        OPENAI_MAX_RETRIES=0,
        CHAT_STRATEGIES={**settings.CHAT_STRATEGIES, "manual_retrieval": manual},
    ):
        local = corpus_with_docs("bench-ttft-local", "pgvector")
        remote = corpus_with_docs("bench-ttft-openai", "openai")
        remote.refresh_from_db()
        token = v1_token(local)
        for _ in range(5):  # warm the model, connections and caches
            measure_v1("/v1/chat/completions", local.slug, token)
            measure_v1("/v1/responses", local.slug, token)
            measure_docent(local, "manual_retrieval")
            measure_docent(remote, "file_search")
            measure_direct_chat(client)
            measure_direct_responses(client, remote.vector_store_id)
        runs: dict[str, tuple[list, list]] = {
            "manual": ([], []),
            "file_search": ([], []),
            "v1": ([], []),
        }
        for i in range(args.rounds):
            pairs = [
                ("manual", lambda: measure_docent(local, "manual_retrieval"), 0),
                ("manual", lambda: measure_direct_chat(client), 1),
                ("file_search", lambda: measure_docent(remote, "file_search"), 0),
                (
                    "file_search",
                    lambda: measure_direct_responses(client, remote.vector_store_id),
                    1,
                ),
                ("v1", lambda: measure_v1("/v1/chat/completions", local.slug, token), 0),
                ("v1", lambda: measure_v1("/v1/responses", local.slug, token), 1),
            ]
            for name, measure, side in pairs if i % 2 else reversed(pairs):
                runs[name][side].append(measure())
    server.stop()
    # The local default: no language model configured, so the answer is extractive.
    extractive = [measure_docent(local, "manual_retrieval") for _ in range(args.rounds)]
    report("manual_retrieval (hybrid search + Chat Completions)", *runs["manual"])
    report("file_search (Responses API + file_search)", *runs["file_search"])
    report_v1(*runs["v1"])
    print(f"\nmanual_retrieval, extractive (no model configured; {len(extractive)} rounds)")
    print(f"  first token p50 {median([e[0] for e in extractive]):.1f} ms, "
          f"p95 {percentile([e[0] for e in extractive], 95):.1f} ms; "
          f"total p50 {median([e[1] for e in extractive]):.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()

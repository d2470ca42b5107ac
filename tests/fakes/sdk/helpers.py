"""Documents and requests shared by the SDK tests of the fake OpenAI server."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any

import openai

from tests.fakes.openai_server import FakeOpenAIServer

DRILL = (
    "The X200 drill has a warranty of 24 months. The X200 drill weighs 1.8 kilograms.\n"
    "Its battery charges in 45 minutes."
)
SAW = "The Z9 saw has a warranty of 12 months. The Z9 saw weighs 3.2 kilograms."


def upload(client: openai.OpenAI, name: str, text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return client.files.create(file=(name, data), purpose="assistants").id


def indexed_store(client: openai.OpenAI, files: dict[str, str]) -> tuple[str, dict[str, str]]:
    store = client.vector_stores.create(name="docs")
    ids = {}
    for number, (name, text) in enumerate(files.items(), start=1):
        ids[name] = upload(client, name, text)
        done = client.vector_stores.files.create_and_poll(
            ids[name],
            vector_store_id=store.id,
            attributes={"docent_document_id": str(number)},
            poll_interval_ms=1,
        )
        assert done.status == "completed"
    return store.id, ids


def raw_request(
    server: FakeOpenAIServer, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - a loopback URL
        server.url + path, data=body, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def collapse(kinds: list[str]) -> list[str]:
    return [kind for i, kind in enumerate(kinds) if i == 0 or kind != kinds[i - 1]]


# Quarterly "filings" that share a vocabulary, like the SEC 10-Qs: half report figures, half
# legal matters, and the query's company name is the one word that only one of them holds.
# Long questions over such files made the old squashed score saturate at 1.0 for every match.
FIGURES = [
    "revenue",
    "margin",
    "inventory",
    "backlog",
    "dividend",
    "tariff",
    "headcount",
    "capex",
    "goodwill",
    "debt",
    "buyback",
    "churn",
    "bookings",
    "pricing",
]
LEGAL = [
    "patent",
    "lawsuit",
    "pension",
    "warranty",
    "lease",
    "royalty",
    "subsidy",
    "audit",
    "merger",
    "recall",
    "strike",
    "fine",
    "license",
    "permit",
]
FIGURES_QUESTION = f"What did Zephyr report for {', '.join(FIGURES)}?"


def filing(company: str, topics: list[str]) -> str:
    return " ".join(f"{company} reported its {word} for the quarter." for word in topics) * 3


def filings() -> dict[str, str]:
    """Zephyr's, the only one naming Zephyr, is uploaded last (ties would put it last)."""
    files = {
        f"{company.lower()}.txt": filing(company, FIGURES if number % 2 else LEGAL)
        for number, company in enumerate(["Acme", "Bolt", "Crane", "Delta", "Ember", "Flint"])
    }
    files["zephyr.txt"] = filing("Zephyr", FIGURES)
    return files

"""Corpora and settings under which each registered answer strategy runs in tests.

Adding a strategy = one module, one settings entry, one case here (STRATEGY_CASES)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from documents import services as document_services
from documents.models import Corpus
from tests.fakes import memory_backend

MEALS = """# Travel expenses

Meal expenses are reimbursed up to 45 euros per day when travelling abroad.
Receipts for meals must be uploaded within thirty days of the end of the trip.
"""

CARS = """# Company cars

Company cars are leased for four years and replaced after 120,000 kilometres.
Fuel receipts must be kept for one year in case of an audit.
"""

EQUIPMENT = """# Equipment

Every new employee receives a laptop and a headset on the first working day.
Lost equipment must be reported to the IT service desk within 24 hours.
"""

DOCUMENTS = {"meals.md": MEALS, "cars.md": CARS, "equipment.md": EQUIPMENT}


@dataclass(frozen=True)
class StrategyCase:
    strategy: str
    make_corpus: Callable[..., Corpus]


def _ingest(corpus: Corpus) -> Corpus:
    for filename, text in DOCUMENTS.items():
        outcome = document_services.document_upload(
            corpus=corpus, file=io.BytesIO(text.encode()), filename=filename
        )
        document_services.document_ingest(document_id=outcome.document.pk)
        outcome.document.refresh_from_db()
        assert outcome.document.status == "ready", outcome.document.error
    corpus.refresh_from_db()  # ingestion may have stored remote ids (the vector store's)
    return corpus


def local_corpus(settings, fake_openai) -> Corpus:
    return _ingest(document_services.corpus_create(name="Policies", slug="policies"))


def memory_corpus(settings, fake_openai) -> Corpus:
    """A corpus of the tests-only in-memory backend, registered through settings alone."""
    memory_backend.register(settings)
    return _ingest(
        document_services.corpus_create(
            name="Policies", slug="policies", index_backend=memory_backend.KEY
        )
    )


def memory_corpus_with_chat_model(settings, fake_openai) -> Corpus:
    _use_fake_chat_model(settings, fake_openai)
    return memory_corpus(settings, fake_openai)


def local_corpus_with_chat_model(settings, fake_openai) -> Corpus:
    _use_fake_chat_model(settings, fake_openai)
    return local_corpus(settings, fake_openai)


def _use_fake_chat_model(settings, fake_openai) -> None:
    settings.CHAT_STRATEGIES = {
        **settings.CHAT_STRATEGIES,
        "manual_retrieval": {
            **settings.CHAT_STRATEGIES["manual_retrieval"],
            "OPTIONS": {
                **settings.CHAT_STRATEGIES["manual_retrieval"]["OPTIONS"],
                "base_url": fake_openai.base_url,
                "api_key": "test",
                "model": "fake-chat",
            },
        },
    }
    settings.OPENAI_MAX_RETRIES = 0


def openai_corpus(settings, fake_openai) -> Corpus:
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "test"
    settings.OPENAI_MAX_RETRIES = 0
    fake_openai.processing_polls = 0
    return _ingest(
        document_services.corpus_create(name="Policies", slug="policies", index_backend="openai")
    )


def openai_corpus_with_previous_response(settings, fake_openai) -> Corpus:
    settings.CHAT_STRATEGIES = {
        **settings.CHAT_STRATEGIES,
        "file_search": {
            **settings.CHAT_STRATEGIES["file_search"],
            "OPTIONS": {
                **settings.CHAT_STRATEGIES["file_search"]["OPTIONS"],
                "state": "previous_response",
            },
        },
    }
    return openai_corpus(settings, fake_openai)


# Every registered strategy needs at least one case; manual retrieval and file search run both
# ways, manual retrieval also over a backend that is neither of the shipped ones.
STRATEGY_CASES = {
    "manual_retrieval (extractive)": StrategyCase("manual_retrieval", local_corpus),
    "manual_retrieval (chat model)": StrategyCase("manual_retrieval", local_corpus_with_chat_model),
    # A third backend that plugs in through settings only (tests/fakes/memory_backend.py).
    "manual_retrieval (in-memory backend)": StrategyCase("manual_retrieval", memory_corpus),
    "manual_retrieval (in-memory backend, chat model)": StrategyCase(
        "manual_retrieval", memory_corpus_with_chat_model
    ),
    "file_search (conversations)": StrategyCase("file_search", openai_corpus),
    "file_search (previous_response_id)": StrategyCase(
        "file_search", openai_corpus_with_previous_response
    ),
    "assistants": StrategyCase("assistants", openai_corpus),
    # OpenAI's vector stores are searchable: manual retrieval answers from them as well.
    "manual_retrieval (openai backend)": StrategyCase("manual_retrieval", openai_corpus),
}


@pytest.fixture(params=sorted(STRATEGY_CASES))
def case(request, db, settings, fake_openai) -> tuple[StrategyCase, Corpus]:
    strategy_case = STRATEGY_CASES[request.param]
    return strategy_case, strategy_case.make_corpus(settings, fake_openai)

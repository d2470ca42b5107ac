from __future__ import annotations

import datetime as dt
import runpy
from pathlib import Path

import pytest
from django.utils import timezone

from chat.models import Conversation, Message
from chat.usage import model_price, storage_cost, usage_report
from documents.models import Corpus, CorpusReindex, Document
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 1, 11, tzinfo=dt.UTC)  # ten days
DURING = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)
BEFORE = dt.datetime(2025, 12, 31, 23, tzinfo=dt.UTC)
GB = 1_000_000_000
PRICES = {
    "gpt-4.1": {"input": 2.00, "output": 8.00},
    "gpt-4.1-mini": {"input": 0.40, "output": 1.60},
    "text-embedding-3-small": {"input": 0.02},
    "all-MiniLM-L6-v2": {"input": 0},
    "extractive": {"input": 0},
}


def answer(conversation: Conversation, *, at: dt.datetime, **fields) -> Message:
    Message.objects.create(conversation=conversation, role="user", content="question")
    message = Message.objects.create(
        conversation=conversation, role="assistant", strategy=conversation.strategy, **fields
    )
    Message.objects.filter(pk=message.pk).update(created_at=at)
    return message


@pytest.fixture
def usage(settings):
    settings.MODEL_PRICES = PRICES
    settings.VECTOR_STORE_PRICE_PER_GB_DAY = 0.10
    settings.VECTOR_STORE_FREE_GB = 1.0
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    alpha = Corpus.objects.create(
        name="Alpha",
        slug="alpha",
        index_backend="pgvector",
        embedding_model="text-embedding-3-small",
    )
    beta = Corpus.objects.create(
        name="Beta",
        slug="beta",
        index_backend="openai",
        embedding_model="all-MiniLM-L6-v2",
        remote_usage_bytes=3 * GB,
    )
    at_alpha = Conversation.objects.create(corpus=alpha, user=alice, strategy="manual_retrieval")
    from_shell = Conversation.objects.create(corpus=alpha, user=None, strategy="manual_retrieval")
    at_beta = Conversation.objects.create(corpus=beta, user=bob, strategy="file_search")
    answer(
        at_alpha,
        at=DURING,
        model="gpt-4.1-mini-2025-04-14",
        prompt_tokens=1_000_000,
        completion_tokens=500_000,
    )
    answer(at_alpha, at=BEFORE, model="gpt-4.1", prompt_tokens=9_000_000)  # not in the period
    answer(from_shell, at=DURING, model="extractive")
    answer(at_beta, at=DURING, model="gpt-4.1-mini", prompt_tokens=2_000_000)
    answer(at_beta, at=DURING, model="mystery-model", prompt_tokens=1_000, completion_tokens=10)
    # History an API client sent along was not answered here.
    supplied = Message.objects.create(conversation=at_beta, role="assistant", content="earlier")
    Message.objects.filter(pk=supplied.pk).update(created_at=DURING)
    Document.objects.create(
        corpus=alpha,
        filename="a.md",
        size_bytes=1,
        sha256="a" * 64,
        status="ready",
        uploaded_by=alice,
        embedding_tokens=3_000_000,
        finished_at=DURING,
    )
    Document.objects.create(
        corpus=alpha,
        filename="old.md",
        size_bytes=1,
        sha256="b" * 64,
        status="ready",
        embedding_tokens=7_000_000,
        finished_at=BEFORE,
    )
    CorpusReindex.objects.create(
        corpus=alpha,
        target_version=2,
        embedding_model="all-MiniLM-L6-v2",
        chunk_size_tokens=100,
        chunk_overlap_tokens=10,
        status="done",
        created_by=bob,
        embedding_tokens=5_000_000,
        finished_at=DURING,
    )
    return alpha, beta


def rows_by_name(report) -> dict:
    return {row.name: row for row in report.rows}


def test_usage_per_corpus_sums_answers_embeddings_and_storage(usage):
    report = usage_report(start=START, end=END, group_by="corpus")
    rows = rows_by_name(report)
    assert list(rows) == ["Beta", "Alpha"]  # most expensive first

    alpha = rows["Alpha"]
    assert (alpha.answers, alpha.prompt_tokens, alpha.completion_tokens) == (2, 1_000_000, 500_000)
    assert alpha.embedding_tokens == 3_000_000 + 5_000_000
    # 1M prompt at $0.40 + 0.5M completion at $1.60 + 3M embedding at $0.02 (+ free local model)
    assert alpha.token_cost == pytest.approx(0.40 + 0.80 + 0.06)
    assert (alpha.storage_bytes, alpha.storage_cost, alpha.unpriced_models) == (0, 0, set())

    beta = rows["Beta"]
    assert (beta.answers, beta.prompt_tokens, beta.completion_tokens) == (2, 2_001_000, 10)
    assert beta.token_cost == pytest.approx(0.80)
    assert beta.unpriced_models == {"mystery-model"}
    # 3 GB, the first free: 2 GB x $0.10 x 10 days.
    assert beta.storage_bytes == 3 * GB
    assert beta.storage_cost == pytest.approx(2.00)

    total = report.total
    assert (total.answers, total.prompt_tokens, total.embedding_tokens) == (4, 3_001_000, 8_000_000)
    assert total.cost == pytest.approx(0.40 + 0.80 + 0.06 + 0.80 + 2.00)
    assert report.storage_days == pytest.approx(10)


def test_usage_per_user(usage):
    rows = rows_by_name(usage_report(start=START, end=END, group_by="user"))
    assert set(rows) == {"alice", "bob", "(no user: command line or system)"}
    assert (rows["alice"].answers, rows["alice"].embedding_tokens) == (1, 3_000_000)
    assert rows["alice"].token_cost == pytest.approx(1.26)
    assert (rows["bob"].answers, rows["bob"].embedding_tokens) == (2, 5_000_000)
    assert rows["bob"].token_cost == pytest.approx(0.80)
    assert rows["(no user: command line or system)"].answers == 1
    # Storage belongs to corpora: only the total carries it.
    assert all(row.storage_cost == 0 for row in rows.values())


def test_usage_per_model_prices_dated_model_names(usage):
    report = usage_report(start=START, end=END, group_by="model")
    rows = rows_by_name(report)
    assert rows["gpt-4.1-mini-2025-04-14"].token_cost == pytest.approx(1.20)
    assert rows["gpt-4.1-mini"].token_cost == pytest.approx(0.80)
    assert rows["text-embedding-3-small"].embedding_tokens == 3_000_000
    assert rows["text-embedding-3-small"].token_cost == pytest.approx(0.06)
    assert rows["all-MiniLM-L6-v2"].embedding_tokens == 5_000_000
    assert rows["all-MiniLM-L6-v2"].token_cost == 0
    assert rows["extractive"].answers == 1
    assert rows["mystery-model"].unpriced_models == {"mystery-model"}
    assert "gpt-4.1" not in rows  # before the period
    assert report.total.unpriced_models == {"mystery-model"}


def test_storage_is_counted_up_to_now_only(usage):
    start = timezone.now() - dt.timedelta(days=2)
    report = usage_report(start=start, end=start + dt.timedelta(days=30), group_by="corpus")
    assert report.storage_days == pytest.approx(2, abs=0.01)
    assert report.total.storage_cost == pytest.approx(2 * 0.10 * 2, abs=0.001)


def test_model_price_takes_the_longest_known_prefix(settings):
    settings.MODEL_PRICES = PRICES
    assert model_price("gpt-4.1-mini") == PRICES["gpt-4.1-mini"]
    assert model_price("gpt-4.1-mini-2025-04-14") == PRICES["gpt-4.1-mini"]
    assert model_price("gpt-4.1-2025-04-14") == PRICES["gpt-4.1"]
    assert model_price("gpt-4.10") is None
    assert model_price("") is None


def test_storage_within_the_free_allowance_costs_nothing(settings):
    settings.VECTOR_STORE_PRICE_PER_GB_DAY = 0.10
    settings.VECTOR_STORE_FREE_GB = 1.0
    assert storage_cost(total_bytes=GB // 2, days=30) == 0
    assert storage_cost(total_bytes=GB * 3 // 2, days=30) == pytest.approx(0.5 * 0.10 * 30)


def test_prices_can_be_extended_from_the_environment(monkeypatch):
    monkeypatch.setenv("MODEL_PRICES_JSON", '{"my-model": {"input": 1.5, "output": 3}}')
    monkeypatch.setenv("VECTOR_STORE_PRICE_PER_GB_DAY", "0.2")
    # A database URL and key keep the settings module from touching the local database.
    monkeypatch.setenv("DATABASE_URL", "postgres://docent@localhost/unused")
    monkeypatch.setenv("SECRET_KEY", "test")
    settings_file = Path(__file__).resolve().parents[2] / "config" / "settings.py"
    loaded = runpy.run_path(str(settings_file))
    assert loaded["MODEL_PRICES"]["my-model"] == {"input": 1.5, "output": 3}
    assert loaded["MODEL_PRICES"]["gpt-4.1-mini"] == {"input": 0.40, "output": 1.60}
    assert loaded["VECTOR_STORE_PRICE_PER_GB_DAY"] == 0.2

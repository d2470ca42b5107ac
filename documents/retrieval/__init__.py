"""Retrieval: what every answer strategy and the API call to find the passages for a query.

search (the corpus's backend) -> the configured stages, in order (rerankers, neighbour
expansion, an abstention score, ...) -> a Retrieval. Quotes (the sentences of the passages that
answer) are picked here too, so strategies never embed text or read pages themselves.
"""

from documents.retrieval.pipeline import (
    Retrieval,
    RetrievalStage,
    corpus_search,
    get_stages,
    retrieve,
)
from documents.retrieval.quotes import Quote, best_quotes, split_sentences

__all__ = [
    "Quote",
    "Retrieval",
    "RetrievalStage",
    "best_quotes",
    "corpus_search",
    "get_stages",
    "retrieve",
    "split_sentences",
]

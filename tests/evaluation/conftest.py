from __future__ import annotations

import io

from documents import services as document_services
from documents.models import Corpus
from evaluation.models import Question, QuestionSet
from tests.chat.conftest import DOCUMENTS

UNANSWERABLE = "What does the zorblax quintessence frobnication schedule say?"


def ingest_corpus(*, slug: str, index_backend: str = "pgvector") -> Corpus:
    corpus = document_services.corpus_create(
        name=slug.title(), slug=slug, index_backend=index_backend
    )
    for filename, text in DOCUMENTS.items():
        outcome = document_services.document_upload(
            corpus=corpus, file=io.BytesIO(text.encode()), filename=filename
        )
        document_services.document_ingest(document_id=outcome.document.pk)
        outcome.document.refresh_from_db()
        assert outcome.document.status == "ready", outcome.document.error
    corpus.refresh_from_db()
    return corpus


def make_question_set(corpus: Corpus, name: str = "golden") -> QuestionSet:
    question_set = QuestionSet.objects.create(corpus=corpus, name=name)
    Question.objects.bulk_create(
        [
            Question(
                question_set=question_set,
                text="How much are meal expenses reimbursed per day abroad?",
                expected_documents=["meals.md"],
                expected_pages=[1],
                expected_answer="45 euros",
            ),
            Question(
                question_set=question_set,
                text="After how many kilometres are company cars replaced?",
                expected_documents=["cars.md"],
                expected_answer="120,000 kilometres",
            ),
            Question(question_set=question_set, text=UNANSWERABLE, answerable=False),
        ]
    )
    return question_set

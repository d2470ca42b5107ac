from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json

import pytest
from django.utils import timezone

from api import services as api_services
from api.models import ApiInterface
from api.scopes import scopes_parse
from chat import services as chat_services
from chat.models import Conversation
from documents.models import Chunk
from evaluation.models import AnswerProvenance, Interface, PassageRole
from evaluation.provenance import (
    CSV_COLUMNS,
    ProvenanceFilter,
    asked_via,
    provenance_export_csv,
    provenance_export_jsonl,
    provenance_filter,
    provenance_purge,
)

pytestmark = pytest.mark.django_db

QUESTION = "How much are meal expenses reimbursed abroad?"


def ask_web(corpus, user, question=QUESTION):
    conversation = chat_services.conversation_start(corpus=corpus, user=user)
    return chat_services.message_ask_collect(conversation=conversation, question=question)


def test_a_web_answer_records_passages_scores_and_who_asked(corpus, people):
    answer = ask_web(corpus, people.reader)
    record = AnswerProvenance.objects.get(message=answer)
    assert record.interface == Interface.WEB
    assert record.user == people.reader
    assert record.corpus == corpus
    assert record.question == QUESTION
    assert record.strategy == "manual_retrieval"
    assert record.index_version == corpus.index_version
    assert record.settings["embedding_model"] == corpus.embedding_model
    assert record.settings["retrieval"]["top_k"] == 6
    context = list(record.passages.filter(role=PassageRole.CONTEXT))
    assert context, "the passages given to the answer are stored"
    assert context[0].document_name == "meals.md"
    assert context[0].score is not None
    assert [p.position for p in context] == list(range(1, len(context) + 1))
    cited = list(record.passages.filter(role=PassageRole.CITED))
    assert [p.citation_number for p in cited] == [c["number"] for c in answer.citations]
    assert [p.text for p in cited] == [c["quote"] for c in answer.citations]
    for passage in [*context, *cited]:
        assert passage.text_sha256 == hashlib.sha256(passage.text.encode()).hexdigest()
    chunk = Chunk.objects.get(pk=context[0].chunk_ref)
    assert chunk.text == context[0].text
    assert context[0].index_version == chunk.index_version


def test_provenance_stays_readable_after_the_chunks_are_replaced(corpus, people):
    answer = ask_web(corpus, people.reader)
    record = AnswerProvenance.objects.get(message=answer)
    shown = list(record.passages.values_list("chunk_ref", "text"))
    Chunk.objects.filter(corpus=corpus).delete()  # what re-indexing does to the old version
    record.refresh_from_db()
    passages = list(record.passages.all())
    assert [(p.chunk_ref, p.text) for p in passages] == shown
    assert all(p.chunk_id is None for p in passages)
    exported = json.loads(next(provenance_export_jsonl(AnswerProvenance.objects.all())))
    assert all(p["chunk_exists"] is False for p in exported["passages"])
    assert exported["passages"][0]["text"] == shown[0][1]


def test_an_api_answer_records_the_token_and_interface(corpus, people):
    token, _ = api_services.token_create(
        user=people.owner, name="ci", scopes=scopes_parse(["*:query"])
    )
    conversation = api_services.api_conversation_start(
        token=token, corpus=corpus, interface=ApiInterface.OPENAI
    )
    answer = chat_services.message_ask_collect(conversation=conversation, question=QUESTION)
    record = answer.provenance
    assert record.interface == Interface.OPENAI
    assert record.token == token
    assert record.token_label == str(token)
    token.delete()
    record.refresh_from_db()
    assert record.token is None
    assert record.token_label


def test_asked_via_marks_the_interface_in_this_thread(corpus):
    conversation = chat_services.conversation_start(corpus=corpus, user=None)
    with asked_via(Interface.EVALUATION):
        answer = chat_services.message_ask_collect(conversation=conversation, question=QUESTION)
    assert answer.provenance.interface == Interface.EVALUATION
    other = chat_services.message_ask_collect(conversation=conversation, question=QUESTION)
    assert other.provenance.interface == Interface.CLI


def test_filters_by_corpus_user_token_and_period(corpus, other_corpus, people):
    mine = ask_web(corpus, people.reader)
    theirs = ask_web(corpus, people.owner)
    AnswerProvenance.objects.filter(message=theirs).update(
        created_at=timezone.now() - dt.timedelta(days=10)
    )
    every = AnswerProvenance.objects.all()

    def ids(**filters):
        found = provenance_filter(every, ProvenanceFilter(**filters))
        return set(found.values_list("message_id", flat=True))

    assert ids(user="rita") == {mine.pk}
    assert ids(corpus="policies") == {mine.pk, theirs.pk}
    assert ids(corpus="secret") == set()
    assert ids(since=timezone.now() - dt.timedelta(days=1)) == {mine.pk}
    assert ids(until=timezone.now() - dt.timedelta(days=1)) == {theirs.pk}
    assert ids(interface="web") == {mine.pk, theirs.pk}
    assert ids(token=12345) == set()


def test_csv_and_jsonl_exports_read_back(corpus, people):
    answer = ask_web(corpus, people.reader)
    record = answer.provenance
    passages = list(record.passages.all())
    rows = list(
        csv.DictReader(io.StringIO("".join(provenance_export_csv(AnswerProvenance.objects.all()))))
    )
    assert list(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(passages)
    assert {row["user"] for row in rows} == {"rita"}
    assert [row["text"] for row in rows] == [p.text for p in passages]
    assert [row["text_sha256"] for row in rows] == [p.text_sha256 for p in passages]
    lines = "".join(provenance_export_jsonl(AnswerProvenance.objects.all())).splitlines()
    data = json.loads(lines[0])
    assert data["message_id"] == answer.pk
    assert data["answer"] == answer.content
    assert data["user"] == "rita"
    assert data["interface"] == "web"
    assert [p["text"] for p in data["passages"]] == [p.text for p in passages]


def test_retention_deletes_old_provenance_and_conversations(corpus, people, caplog, settings):
    old = ask_web(corpus, people.reader)
    new = ask_web(corpus, people.reader)
    long_ago = timezone.now() - dt.timedelta(days=40)
    AnswerProvenance.objects.filter(message=old).update(created_at=long_ago)
    Conversation.objects.filter(pk=old.conversation_id).update(updated_at=long_ago)
    settings.PROVENANCE_RETENTION_DAYS = 0
    assert provenance_purge().provenance == 0
    settings.PROVENANCE_RETENTION_DAYS = 30
    with caplog.at_level("INFO", logger="evaluation.provenance"):
        outcome = provenance_purge()
    assert (outcome.provenance, outcome.conversations) == (1, 1)
    assert not Conversation.objects.filter(pk=old.conversation_id).exists()
    assert AnswerProvenance.objects.filter(message=new).exists()
    assert "deleted 1 provenance rows and 1 conversations older than 30 days" in caplog.text


def test_deleting_a_user_deletes_their_provenance(corpus, people):
    ask_web(corpus, people.reader)
    people.reader.delete()
    assert not AnswerProvenance.objects.exists()


def test_passages_whose_chunk_or_document_is_gone_keep_their_ids(corpus, people, monkeypatch):
    from chat.strategies import local_rag
    from documents.models import Document

    original = local_rag.ManualRetrievalStrategy._search

    def search_then_lose_the_rows(self, corpus_, query):
        retrieval = original(self, corpus_, query)
        # A re-index (chunks) and a deletion (the document) land while the answer is written.
        hit = retrieval.hits[0]
        Chunk.objects.filter(pk=hit.chunk_id).delete()
        return retrieval

    monkeypatch.setattr(local_rag.ManualRetrievalStrategy, "_search", search_then_lose_the_rows)
    answer = ask_web(corpus, people.reader)
    first = answer.provenance.passages.get(role=PassageRole.CONTEXT, position=1)
    assert first.chunk_id is None
    assert first.chunk_ref is not None
    assert first.text
    assert Document.objects.filter(pk=first.document_ref).exists()

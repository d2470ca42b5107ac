from __future__ import annotations

import pytest
from django.test import Client

from chat import services as chat_services
from documents.models import Chunk

pytestmark = pytest.mark.django_db

QUESTION = "How much are meal expenses reimbursed abroad?"


@pytest.fixture
def answer(corpus, people):
    conversation = chat_services.conversation_start(corpus=corpus, user=people.reader)
    return chat_services.message_ask_collect(conversation=conversation, question=QUESTION)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_asker_sees_why_these_sources(answer, people):
    url = f"/answers/{answer.pk}/sources/"
    fragment = client_for(people.reader).get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert "Why these sources" in body
    assert "<html" not in body
    assert "Passages given to the answer" in body
    assert "meals.md" in body
    assert "score " in body
    page = client_for(people.reader).get(url).content.decode()
    assert "<html" in page
    assert "Back to the conversation" in page


@pytest.mark.parametrize("who", ["owner", "contributor", "outsider"])
def test_no_one_else_sees_it(answer, people, who):
    response = client_for(getattr(people, who)).get(f"/answers/{answer.pk}/sources/")
    assert response.status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(answer):
    response = Client().get(f"/answers/{answer.pk}/sources/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_question_has_no_sources_panel(answer, people):
    question = answer.conversation.messages.get(role="user")
    assert client_for(people.reader).get(f"/answers/{question.pk}/sources/").status_code == 404


def test_after_re_indexing_the_panel_shows_the_text_that_was_used(answer, people):
    Chunk.objects.all().delete()
    body = client_for(people.reader).get(f"/answers/{answer.pk}/sources/?fragment=1")
    assert "re-indexed since; this is the text that was used" in body.content.decode()


def test_the_conversation_page_links_each_answer_to_why_these_sources(answer, people):
    conversation = answer.conversation
    page = client_for(people.reader).get(
        f"/c/{conversation.corpus.slug}/conversations/{conversation.pk}/"
    )
    assert page.status_code == 200
    assert f'href="/answers/{answer.pk}/sources/"' in page.content.decode()

    answer.provenance.delete()  # an answer from before provenance was recorded: no dead link
    page = client_for(people.reader).get(
        f"/c/{conversation.corpus.slug}/conversations/{conversation.pk}/"
    )
    assert "/sources/" not in page.content.decode()


def test_the_conversation_page_does_not_query_once_per_answer(answer, people):
    """Each answer's "Why these sources" link reads its provenance: with the messages, not with a
    query per answer."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    conversation = answer.conversation
    url = f"/c/{conversation.corpus.slug}/conversations/{conversation.pk}/"
    reader = client_for(people.reader)
    reader.get(url)  # warm caches (session, site) so both counts compare the same work
    with CaptureQueriesContext(connection) as one_turn:
        reader.get(url)
    for _ in range(3):
        chat_services.message_ask_collect(conversation=conversation, question=QUESTION)
    with CaptureQueriesContext(connection) as four_turns:
        page = reader.get(url)
    assert page.content.decode().count('/sources/"') == 4
    assert len(four_turns) == len(one_turn), [q["sql"] for q in four_turns.captured_queries]

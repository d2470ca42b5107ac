from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from chat.models import Conversation
from documents import services
from documents.models import CorpusMembership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus(db):
    corpus = services.corpus_create(name="KB", slug="kb")
    CorpusMembership.objects.create(corpus=corpus, user=UserFactory(username="rita"))
    UserFactory(username="oscar")
    return corpus


def test_ask_refuses_a_user_who_may_not_read_the_corpus(corpus):
    with pytest.raises(CommandError, match="User 'oscar' may not read the corpus 'kb'"):
        call_command("ask", "--corpus", "kb", "--user", "oscar", "Any news?", stdout=io.StringIO())
    assert not Conversation.objects.exists()


def test_ask_acts_for_a_reader(corpus):
    out = io.StringIO()
    call_command("ask", "--corpus", "kb", "--user", "rita", "--json", "Any news?", stdout=out)
    conversation = Conversation.objects.get(pk=json.loads(out.getvalue())["conversation_id"])
    assert conversation.user.username == "rita"


def test_ask_without_user_acts_as_the_operator(corpus):
    call_command("ask", "--corpus", "kb", "--json", "Any news?", stdout=io.StringIO())
    assert Conversation.objects.get().user is None

"""Security-relevant events are recorded with who, what, when and from where, through the real
request stack (the test client runs every middleware) and the API with a real token."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from api import services as api_services
from audit.models import Action, AuditEvent
from chat import services as chat_services
from documents import services as document_services
from documents.models import Corpus, CorpusMembership, Role
from tests.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"


def events(action: Action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def the(action: Action) -> AuditEvent:
    found = events(action)
    assert len(found) == 1, [e.as_json() for e in AuditEvent.objects.all()]
    return found[0]


def client_from(address: str = ADDRESS, user=None) -> Client:
    client = Client(REMOTE_ADDR=address, HTTP_USER_AGENT="AuditTest/1.0")
    if user is not None:
        client.force_login(user)
    return client


def test_password_sign_in_records_who_and_from_where():
    user = UserFactory(username="ada")

    response = client_from().post(reverse("login"), {"username": "ada", "password": PASSWORD})

    assert response.status_code == 302
    event = the(Action.SIGNIN)
    assert event.actor_id == user.pk
    assert event.actor_label == "ada"
    assert event.client_address == ADDRESS
    assert event.user_agent == "AuditTest/1.0"
    assert event.channel == "web"
    assert event.details == {"method": "password"}
    assert event.target_type == "user"


def test_failed_sign_in_records_the_name_typed_never_the_password():
    UserFactory(username="ada")

    response = client_from().post(reverse("login"), {"username": "ada", "password": "wrong!"})

    assert response.status_code == 200
    event = the(Action.SIGNIN_FAILED)
    assert event.actor_id is None
    assert event.actor_label == "ada"
    assert event.client_address == ADDRESS
    assert "wrong!" not in str(event.as_json())
    assert events(Action.SIGNIN) == []


def test_forwarded_for_header_is_not_trusted_by_default():
    UserFactory(username="ada")

    client_from().post(
        reverse("login"),
        {"username": "ada", "password": "nope"},
        HTTP_X_FORWARDED_FOR="198.51.100.99",
    )

    assert the(Action.SIGNIN_FAILED).client_address == ADDRESS


def test_sign_out_is_recorded():
    user = UserFactory(username="ada")
    client = client_from(user=user)

    client.post(reverse("logout"))

    assert the(Action.SIGNOUT).actor_id == user.pk


def test_token_created_first_used_and_revoked_through_the_web_and_api(corpus, people):
    client = client_from(user=people.reader)
    response = client.post(
        reverse("api:tokens"),
        {"name": "CI job", "corpora": [corpus.slug], "permissions": ["query"]},
    )
    assert response.status_code == 200
    created = the(Action.TOKEN_CREATED)
    assert created.actor_id == people.reader.pk
    assert created.client_address == ADDRESS
    assert created.details["owner"] == people.reader.username
    token = people.reader.api_tokens.get()
    plaintext = response.context["plaintext"]
    api = Client(REMOTE_ADDR="192.0.2.44")
    for _ in range(3):
        assert api.get("/api/corpora", HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 200

    first = the(Action.TOKEN_FIRST_USED)  # once, however often it is used
    assert first.actor_id == people.reader.pk
    assert first.channel == "api"
    assert first.client_address == "192.0.2.44"
    assert first.target_id == str(token.pk)

    client.post(reverse("api:token_revoke", args=[token.pk]))
    client.post(reverse("api:token_revoke", args=[token.pk]))
    revoked = the(Action.TOKEN_REVOKED)
    assert revoked.actor_id == people.reader.pk
    assert revoked.target_id == str(token.pk)


def test_documents_uploaded_and_deleted_through_the_api_are_recorded(corpus, people):
    _token, plaintext = api_services.token_create(
        user=people.contributor,
        name="uploader",
        scopes=[{"corpus": corpus.slug, "permissions": ["query", "ingest"]}],
    )
    api = Client(REMOTE_ADDR="192.0.2.45")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    upload = io.BytesIO(b"# Parking\n\nStaff park on level two.\n")
    upload.name = "parking.md"

    response = api.post(f"/api/corpora/{corpus.slug}/documents", {"files": [upload]}, **auth)
    assert response.status_code == 201, response.content
    document_id = response.json()["results"][0]["document"]["id"]
    created = [e for e in events(Action.DOCUMENT_CREATED) if e.target_id == str(document_id)]
    assert len(created) == 1
    assert created[0].actor_id == people.contributor.pk
    assert created[0].channel == "api"
    assert created[0].corpus_id == corpus.pk
    assert created[0].details["filename"] == "parking.md"

    assert api.delete(f"/api/documents/{document_id}", **auth).status_code == 204
    deleted = the(Action.DOCUMENT_DELETED)
    assert deleted.target_id == str(document_id)
    assert deleted.actor_id == people.contributor.pk
    assert deleted.client_address == "192.0.2.45"


def test_document_deleted_in_the_web_ui_is_recorded(corpus, meals, people):
    client = client_from(user=people.contributor)

    response = client.post(reverse("documents:delete", args=[corpus.slug, meals.pk]))

    assert response.status_code in (200, 302, 204)
    deleted = the(Action.DOCUMENT_DELETED)
    assert deleted.actor_id == people.contributor.pk
    assert deleted.target_label == "meals.md"
    assert deleted.channel == "web"


def test_corpus_lifecycle_membership_and_settings_changes(people):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = client_from(user=admin)
    group = Group.objects.create(name="Finance")

    # The admin's change pages call the services and the ORM: every change there is recorded.
    corpus = document_services.corpus_create(name="Handbook", slug="handbook", created_by=admin)
    membership = CorpusMembership.objects.create(corpus=corpus, group=group, role=Role.READER)
    membership.role = Role.CONTRIBUTOR
    membership.save()
    membership.save()  # unchanged: no second event
    corpus.chat_strategy = "manual_retrieval"
    corpus.save()
    corpus.description = "only the description"
    corpus.save()
    membership.delete()

    created = the(Action.CORPUS_CREATED)
    assert created.target_label == "Handbook"
    assert created.actor_id is None
    assert created.channel == "system"
    assert the(Action.MEMBERSHIP_CREATED).details == {"group": "Finance", "role": "reader"}
    role = the(Action.MEMBERSHIP_ROLE_CHANGED)
    assert role.details == {"group": "Finance", "role": ["reader", "contributor"]}
    assert role.corpus_id == corpus.pk
    assert the(Action.CORPUS_SETTINGS_CHANGED).details == {
        "chat_strategy": ["", "manual_retrieval"]
    }
    assert the(Action.MEMBERSHIP_DELETED).details == {"group": "Finance", "role": "contributor"}

    response = client.post(
        reverse("admin:documents_corpus_delete", args=[corpus.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Corpus.objects.filter(pk=corpus.pk).exists()
    deleted = the(Action.CORPUS_DELETED)
    assert deleted.actor_id == admin.pk
    assert deleted.channel == "web"
    assert deleted.details["slug"] == "handbook"


def test_account_creation_deletion_role_and_group_changes_are_recorded():
    user = UserFactory(username="bea")
    group = Group.objects.create(name="Legal")

    user.is_staff = True
    user.save()
    user.groups.add(group)
    group.user_set.remove(user)
    user_id = user.pk
    user.delete()

    created = the(Action.USER_CREATED)
    assert created.target_label == "bea"
    assert created.details == {"is_active": True, "is_staff": False, "is_superuser": False}
    deleted = the(Action.USER_DELETED)
    assert deleted.target_id == str(user_id)
    assert deleted.target_label == "bea"

    assert the(Action.USER_ROLES_CHANGED).details == {"is_staff": [False, True]}
    added, removed = events(Action.USER_GROUPS_CHANGED)
    assert added.details == {"added": ["Legal"]}
    assert removed.details == {"removed": ["Legal"]}
    assert removed.target_label == "bea"


def test_superuser_deleting_someone_elses_conversation_is_recorded(corpus, people):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    own = chat_services.conversation_start(corpus=corpus, user=people.reader)
    client_from(user=people.reader).post(reverse("chat:delete", args=[corpus.slug, own.pk]))
    assert events(Action.CONVERSATION_DELETED) == []  # deleting your own is not audited

    theirs = chat_services.conversation_start(corpus=corpus, user=people.reader)
    response = client_from(user=admin).post(
        reverse("admin:chat_conversation_delete", args=[theirs.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    event = the(Action.CONVERSATION_DELETED)
    assert event.actor_id == admin.pk
    assert event.details["owner_id"] == people.reader.pk
    assert event.target_id == str(theirs.pk)


def test_lockout_after_repeated_failures_is_recorded(settings):
    from django.apps import apps

    if not apps.is_installed("axes"):
        pytest.skip("django-axes is not installed in this configuration")
    UserFactory(username="ada")
    client = client_from()

    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "ada", "password": "wrong!"})
    refused = client.post(reverse("login"), {"username": "ada", "password": PASSWORD})

    assert refused.status_code in (403, 429)
    lockouts = events(Action.LOCKOUT)
    assert lockouts
    assert lockouts[0].actor_label == "ada"
    assert lockouts[0].client_address == ADDRESS
    assert len(events(Action.SIGNIN_FAILED)) >= settings.AXES_FAILURE_LIMIT
    assert events(Action.SIGNIN) == []

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from api import services
from api.models import ApiToken, TokenState
from api.scopes import Permission, scope_permissions, scopes_clean, scopes_parse
from documents import services as document_services
from documents.models import CorpusMembership, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory(username="tina")


@pytest.fixture
def handbook(user):
    corpus = document_services.corpus_create(name="Handbook", slug="handbook")
    CorpusMembership.objects.create(corpus=corpus, user=user, role=Role.CONTRIBUTOR)
    return corpus


def create(user, scopes=("*:query",), **kwargs):
    return services.token_create(user=user, name="ci", scopes=scopes_parse(scopes), **kwargs)


# --- scopes ---------------------------------------------------------------------------------------


def test_scopes_parse_the_command_line_form():
    assert scopes_parse(["handbook:query,ingest", "*:query"]) == [
        {"corpus": "handbook", "permissions": ["query", "ingest"]},
        {"corpus": "*", "permissions": ["query"]},
    ]


def test_scopes_merge_entries_for_one_corpus_and_order_permissions():
    assert scopes_parse(["a:ingest", "a:query", "a:ingest"]) == [
        {"corpus": "a", "permissions": ["query", "ingest"]}
    ]


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["handbook"], "CORPUS:PERMISSIONS"),
        (["handbook:"], "at least one permission"),
        (["handbook:read"], "Unknown permission 'read'"),
        (["hand book:query"], "is not a corpus slug"),
        ([], "at least one scope"),
    ],
)
def test_bad_scopes_are_refused_with_a_plain_reason(texts, message):
    with pytest.raises(ValidationError) as error:
        scopes_parse(texts)
    assert message in " ".join(error.value.messages)


@pytest.mark.parametrize(
    "value",
    [
        "*:query",
        [{"corpus": "*"}],
        [{"corpus": "*", "permissions": "query"}],
        [{"corpus": 3, "permissions": ["query"]}],
        [{"corpus": "*", "permissions": ["query"], "extra": 1}],
    ],
)
def test_malformed_scope_json_is_refused(value):
    with pytest.raises(ValidationError):
        scopes_clean(value)


def test_a_star_scope_applies_to_every_corpus():
    scopes = scopes_parse(["*:query", "handbook:ingest"])
    assert scope_permissions(scopes, "handbook") == {"query", "ingest"}
    assert scope_permissions(scopes, "other") == {"query"}


def test_permissions_map_to_roles():
    assert Permission.QUERY.role == Role.READER
    assert Permission.INGEST.role == Role.CONTRIBUTOR
    assert Permission.MANAGE.role == Role.MANAGER


# --- lifecycle ------------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_stored_only_as_its_hash(user):
    token, plaintext = create(user)
    assert plaintext.startswith("dct_")
    assert len(plaintext) == 4 + 43
    assert token.prefix == plaintext[4:12]
    assert token.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    row = ApiToken.objects.filter(pk=token.pk).values()[0]
    assert not any(plaintext in str(value) for value in row.values())
    assert plaintext[12:] not in str(row)
    assert services.token_authenticate(plaintext=plaintext) == token


def test_tokens_are_random_and_prefixes_unique(user):
    plaintexts = {create(user)[1] for _ in range(20)}
    assert len(plaintexts) == 20
    assert ApiToken.objects.values("prefix").distinct().count() == 20


@pytest.mark.parametrize(
    "plaintext",
    [
        "",
        "dct_",
        "not-a-token",
        "dct_" + "a" * 43,
        "dct_" + "a" * 44,
        "dct_\x00" + "a" * 42,
        "Bearer dct_" + "a" * 43,
    ],
)
def test_unknown_or_malformed_plaintexts_do_not_authenticate(user, plaintext):
    create(user)
    assert services.token_authenticate(plaintext=plaintext) is None


def test_a_token_with_the_right_prefix_but_wrong_secret_does_not_authenticate(user):
    _, plaintext = create(user)
    forged = plaintext[:12] + ("A" if plaintext[12] != "A" else "B") + plaintext[13:]
    assert services.token_authenticate(plaintext=forged) is None


def test_revoked_tokens_stop_authenticating_and_revoking_twice_keeps_the_first_time(user):
    token, plaintext = create(user)
    services.token_revoke(token=token)
    first = token.revoked_at
    assert first is not None
    assert token.state == TokenState.REVOKED
    assert services.token_authenticate(plaintext=plaintext) is None
    services.token_revoke(token=token)
    assert token.revoked_at == first


def test_tokens_expire(user):
    token, plaintext = create(user, expires_in_days=7)
    assert token.expires_at is not None
    assert abs(token.expires_at - (timezone.now() + dt.timedelta(days=7))) < dt.timedelta(minutes=1)
    assert services.token_authenticate(plaintext=plaintext) is not None
    later = token.expires_at + dt.timedelta(seconds=1)
    assert services.token_authenticate(plaintext=plaintext, now=later) is None
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert services.token_authenticate(plaintext=plaintext) is None
    token.refresh_from_db()
    assert token.state == TokenState.EXPIRED


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_expiry_must_be_sensible(user, days):
    with pytest.raises(ValidationError, match="between 1 and 3650"):
        create(user, expires_in_days=days)


def test_deactivated_users_tokens_stop_working(user):
    _, plaintext = create(user)
    user.is_active = False
    user.save()
    assert services.token_authenticate(plaintext=plaintext) is None


def test_a_token_needs_a_name_and_known_corpora(user, handbook):
    with pytest.raises(ValidationError, match="name"):
        services.token_create(user=user, name="  ", scopes=scopes_parse(["*:query"]))
    with pytest.raises(ValidationError, match="No corpus has the slug 'nope'"):
        create(user, scopes=["nope:query"])
    token, _ = create(user, scopes=["handbook:query,ingest"])
    assert token.scopes == [{"corpus": "handbook", "permissions": ["query", "ingest"]}]


def test_last_used_is_written_at_most_once_a_minute(user, django_assert_num_queries):
    token, plaintext = create(user)
    assert token.last_used_at is None
    now = timezone.now()
    assert services.token_authenticate(plaintext=plaintext, now=now) is not None
    token.refresh_from_db()
    assert token.last_used_at == now
    with django_assert_num_queries(1):  # the lookup only, no write
        services.token_authenticate(plaintext=plaintext, now=now + dt.timedelta(seconds=30))
    token.refresh_from_db()
    assert token.last_used_at == now
    later = now + dt.timedelta(seconds=61)
    services.token_authenticate(plaintext=plaintext, now=later)
    token.refresh_from_db()
    assert token.last_used_at == later


def test_a_token_grants_no_more_than_its_users_role(user, handbook):
    token, _ = create(user, scopes=["*:query,ingest,manage"])
    assert list(token.corpora(Permission.QUERY)) == [handbook]
    assert list(token.corpora(Permission.INGEST)) == [handbook]
    assert list(token.corpora(Permission.MANAGE)) == []  # a contributor, not a manager
    assert not token.allows(Permission.MANAGE, handbook)
    CorpusMembership.objects.filter(user=user).delete()
    assert not token.allows(Permission.QUERY, handbook)
    assert list(token.visible_corpora()) == []


# --- rate limit -----------------------------------------------------------------------------------


def test_the_rate_limit_counts_a_fixed_window_per_token(user):
    token, _ = create(user)
    other, _ = create(user)
    start = timezone.now().replace(second=10, microsecond=0)
    assert [services.token_rate_limit(token=token, limit=3, now=start) for _ in range(3)] == [
        None,
        None,
        None,
    ]
    assert services.token_rate_limit(token=token, limit=3, now=start) == 50
    assert (
        services.token_rate_limit(token=token, limit=3, now=start + dt.timedelta(seconds=45)) == 5
    )
    assert services.token_rate_limit(token=other, limit=3, now=start) is None
    # Refused requests do not count; the next window starts afresh.
    token.refresh_from_db()
    assert token.rate_window_count == 3
    next_window = start + dt.timedelta(seconds=50)
    assert services.token_rate_limit(token=token, limit=3, now=next_window) is None
    token.refresh_from_db()
    assert token.rate_window_count == 1


def test_a_zero_limit_turns_rate_limiting_off(user, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    token, _ = create(user)
    assert all(services.token_rate_limit(token=token) is None for _ in range(5))


# --- usage ----------------------------------------------------------------------------------------


def test_token_usage_starts_empty(user):
    token, _ = create(user)
    usage = services.token_usage(token=token)
    assert (usage.conversations, usage.questions, usage.prompt_tokens) == (0, 0, 0)


# --- the command ----------------------------------------------------------------------------------


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_creates_a_token_and_prints_it_once(user, handbook):
    out, err = run(
        "create",
        "--user",
        "tina",
        "--name",
        "CI",
        "--scope",
        "handbook:query,ingest",
        "--expires",
        "30",
    )
    plaintext = out.strip()
    token = services.token_authenticate(plaintext=plaintext)
    assert token is not None
    assert token.name == "CI"
    assert token.user == user
    assert token.scopes == [{"corpus": "handbook", "permissions": ["query", "ingest"]}]
    assert token.expires_at is not None
    assert f"dct_{token.prefix}" in err
    assert plaintext not in err


def test_the_command_defaults_to_a_query_token_for_every_corpus(user):
    out, _ = run("create", "--user", "tina")
    token = services.token_authenticate(plaintext=out.strip())
    assert token.scopes == [{"corpus": "*", "permissions": ["query"]}]


def test_the_command_accepts_several_scopes(user, handbook):
    out, _ = run("create", "--user", "tina", "--scope", "handbook:ingest", "*:query")
    token = services.token_authenticate(plaintext=out.strip())
    assert token.scopes == [
        {"corpus": "handbook", "permissions": ["ingest"]},
        {"corpus": "*", "permissions": ["query"]},
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--user", "nobody"], "No user 'nobody'"),
        (["create", "--user", "tina", "--scope", "handbook"], "CORPUS:PERMISSIONS"),
        (["create", "--user", "tina", "--expires", "0"], "between 1 and 3650"),
        (["revoke", "dct_zzzzzzzz"], "No token with the prefix"),
    ],
)
def test_the_command_explains_mistakes(user, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_the_command_lists_and_revokes_tokens_without_their_secrets(user):
    token, plaintext = create(user)
    other, _ = create(UserFactory(username="uma"))
    out, _ = run("list", "--user", "tina")
    assert f"dct_{token.prefix}" in out
    assert f"dct_{other.prefix}" not in out
    assert plaintext[12:] not in out
    assert "active" in out
    out, _ = run("revoke", f"dct_{token.prefix}")
    assert "revoked" in out
    assert services.token_authenticate(plaintext=plaintext) is None
    out, _ = run("revoke", token.prefix)
    assert "already revoked" in out
    out, _ = run("list")
    assert "revoked" in out
    assert f"dct_{other.prefix}" in out

"""Every write of the api app: tokens (create, revoke, authenticate, rate limit) and asking
through the API, which records the token a conversation came from."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import math
import re
import secrets
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from api.models import ApiConversation, ApiInterface, ApiToken
from api.scopes import ALL_CORPORA, Scope, scopes_clean
from audit.models import Action
from audit.services import audit_record
from chat.models import Conversation, Message, MessageRole
from chat.services import (
    AskEvent,
    conversation_add_turns,
    conversation_delete,
    conversation_start,
    conversation_switch_strategy,
    message_ask,
)
from documents.models import Corpus

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from chat.strategies.base import Turn

logger = logging.getLogger(__name__)

# 43 characters from 62 carry 256 bits.
_ALPHABET = string.ascii_letters + string.digits
_SECRET_LENGTH = 43
_TOKEN_PATTERN = re.compile(rf"{ApiToken.MARKER}[A-Za-z0-9]{{{_SECRET_LENGTH}}}")
# last_used_at is written at most this often, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
RATE_WINDOW = dt.timedelta(minutes=1)
MAX_EXPIRY_DAYS = 3650


# --- tokens ---------------------------------------------------------------------------------------


def token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def token_create(
    *,
    user: User,
    name: str,
    scopes: Sequence[Scope] | Any,
    expires_in_days: int | None = None,
    created_by: User | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its plaintext, which is shown once and never stored."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. what will use it."})
    if len(name) > 100:
        raise ValidationError({"name": "Token names are limited to 100 characters."})
    cleaned = scopes_check(scopes)
    expires_at = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
            raise ValidationError(
                {"expires_in_days": f"Expiry must be between 1 and {MAX_EXPIRY_DAYS} days."}
            )
        expires_at = timezone.now() + dt.timedelta(days=expires_in_days)
    if not user.is_active:
        raise ValidationError({"user": f"The account {user.get_username()} is deactivated."})

    for _attempt in range(5):
        plaintext = ApiToken.MARKER + "".join(
            secrets.choice(_ALPHABET) for _ in range(_SECRET_LENGTH)
        )
        start = len(ApiToken.MARKER)
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name,
                    prefix=plaintext[start : start + ApiToken.PREFIX_LENGTH],
                    key_hash=token_hash(plaintext),
                    scopes=cleaned,
                    expires_at=expires_at,
                    created_by=created_by,
                )
        except IntegrityError:
            continue  # the prefix is taken (about one in 10^14 per existing token): draw again
        logger.info("api token %s created for user %s", token.pk, user.pk)
        return token, plaintext
    raise RuntimeError("Could not draw an unused token prefix.")


def token_update(
    *,
    token: ApiToken,
    name: str,
    scopes: Sequence[Scope] | Any,
    expires_at: dt.datetime | None,
) -> ApiToken:
    """Rename a token, change its scopes or expiry (an administrator's edit)."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": "A token needs a name."})
    token.name = name[:100]
    token.scopes = scopes_check(scopes)
    token.expires_at = expires_at
    token.save(update_fields=["name", "scopes", "expires_at"])
    logger.info("api token %s updated", token.pk)
    return token


def scopes_check(scopes: Sequence[Scope] | Any) -> list[Scope]:
    """Scopes cleaned (see api/scopes.py), every named corpus existing."""
    cleaned = scopes_clean(list(scopes) if isinstance(scopes, list | tuple) else scopes)
    named = {scope["corpus"] for scope in cleaned} - {ALL_CORPORA}
    known = set(Corpus.objects.filter(slug__in=named).values_list("slug", flat=True))
    missing = sorted(named - known)
    if missing:
        raise ValidationError({"scopes": f"No corpus has the slug {missing[0]!r}."})
    return cleaned


def token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke now; revoking twice keeps the first time."""
    now = timezone.now()
    if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
        logger.info("api token %s revoked", token.pk)
        audit_record(action=Action.TOKEN_REVOKED, target=token, details={"owner_id": token.user_id})
    token.refresh_from_db(fields=["revoked_at"])
    return token


def token_authenticate(*, plaintext: str, now: dt.datetime | None = None) -> ApiToken | None:
    """The active token with this plaintext, or None (unknown, revoked, expired, or its user
    deactivated)."""
    if not _TOKEN_PATTERN.fullmatch(plaintext):
        return None
    start = len(ApiToken.MARKER)
    prefix = plaintext[start : start + ApiToken.PREFIX_LENGTH]
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.key_hash, token_hash(plaintext)):
        return None
    now = now or timezone.now()
    expired = token.expires_at is not None and token.expires_at <= now
    if token.revoked_at is not None or expired or not token.user.is_active:
        return None
    stale = now - LAST_USED_RESOLUTION
    if token.last_used_at is None or token.last_used_at < stale:
        first_use = token.last_used_at is None
        updated = (
            ApiToken.objects.filter(pk=token.pk)
            .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale))
            .update(last_used_at=now)
        )
        if first_use and updated:
            audit_record(action=Action.TOKEN_FIRST_USED, target=token, actor=token.user)
        token.last_used_at = now
    return token


def token_rate_limit(
    *, token: ApiToken, limit: int | None = None, now: dt.datetime | None = None
) -> int | None:
    """Count one request in the token's fixed one-minute window. None if it is allowed, else
    the seconds until the window ends.

    One conditional UPDATE ... RETURNING on the token row: atomic across processes and servers
    without a cache service, and a refused request does not count.
    """
    limit = settings.API_RATE_LIMIT_PER_MINUTE if limit is None else limit
    if limit <= 0:
        return None
    now = now or timezone.now()
    window = now.replace(second=0, microsecond=0)
    table = connection.ops.quote_name(ApiToken._meta.db_table)
    new_window = "(rate_window_start IS NULL OR rate_window_start < %(window)s)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET "  # noqa: S608 - the table name comes from the model
            f"rate_window_count = CASE WHEN {new_window} THEN 1 ELSE rate_window_count + 1 END, "
            f"rate_window_start = CASE WHEN {new_window} THEN %(window)s "
            "ELSE rate_window_start END "
            f"WHERE id = %(id)s AND ({new_window} OR rate_window_count < %(limit)s) "
            "RETURNING rate_window_count",
            {"window": window, "id": token.pk, "limit": limit},
        )
        allowed = cursor.fetchone() is not None
    if allowed:
        return None
    logger.info("api token %s is over its rate limit", token.pk)
    return max(1, math.ceil((window + RATE_WINDOW - now).total_seconds()))


@dataclass(frozen=True)
class TokenUsage:
    conversations: int
    questions: int
    prompt_tokens: int
    completion_tokens: int


def token_usage(*, token: ApiToken) -> TokenUsage:
    """What a token's conversations used, for accounting."""
    conversations = Conversation.objects.filter(api_origin__token=token)
    totals = Message.objects.filter(conversation__in=conversations).aggregate(
        questions=Count("id", filter=Q(role=MessageRole.USER)),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
    )
    return TokenUsage(
        conversations=conversations.count(),
        questions=totals["questions"] or 0,
        prompt_tokens=totals["prompt_tokens"] or 0,
        completion_tokens=totals["completion_tokens"] or 0,
    )


# --- asking -------------------------------------------------------------------------------------


def api_conversation_start(
    *,
    token: ApiToken,
    corpus: Corpus,
    interface: ApiInterface,
    strategy: str | None = None,
    history: Sequence[Turn] = (),
) -> Conversation:
    """A conversation of the token's user, recorded as started by the token, with the turns the
    client sent stored as its earlier messages."""
    title = " ".join(history[0].question.split())[:80] if history else ""
    with transaction.atomic():
        conversation = conversation_start(
            corpus=corpus, user=token.user, strategy=strategy, title=title
        )
        if history:
            conversation_add_turns(conversation=conversation, turns=history)
        ApiConversation.objects.create(conversation=conversation, token=token, interface=interface)
    logger.info("conversation %s started through the API by token %s", conversation.pk, token.pk)
    return conversation


def api_ask(
    *,
    token: ApiToken,
    corpus: Corpus,
    question: str,
    interface: ApiInterface,
    conversation: Conversation | None = None,
    strategy: str | None = None,
    history: Sequence[Turn] = (),
) -> Iterator[AskEvent]:
    """Ask as the token's user, in `conversation` or in a new one the token is credited with.
    A new conversation is not kept when the question is refused."""
    started = conversation is None
    if conversation is None:
        conversation = api_conversation_start(
            token=token, corpus=corpus, interface=interface, strategy=strategy, history=history
        )
    elif strategy and strategy != conversation.strategy:
        conversation = conversation_switch_strategy(conversation=conversation, strategy=strategy)
    try:
        yield from message_ask(conversation=conversation, question=question)
    except ValidationError:
        if started:
            conversation_delete(conversation=conversation)
        raise

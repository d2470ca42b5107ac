"""Token scopes: which corpora a token may use, and for what.

A token stores its scopes as JSON, a list of
``{"corpus": "<slug>" | "*", "permissions": ["query", "ingest", "manage"]}``; ``"*"`` stands for
every corpus the token's user can reach. On the command line a scope is written
``slug:query,ingest`` or ``*:query``.

A scope never widens what the user may do: each permission also needs the matching role in the
corpus (see `Permission.role`), checked on every request, so a user who loses a membership loses
it for their tokens at once. Permissions are granted one by one; none implies another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

from django.core.exceptions import ValidationError
from django.db import models

from documents.models import Role

ALL_CORPORA = "*"
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")


class Permission(models.TextChoices):
    QUERY = "query", "Query: list, search and ask; read documents and conversations"
    INGEST = "ingest", "Ingest: upload and delete documents"
    MANAGE = "manage", "Manage: corpus administration (reserved; no endpoint needs it yet)"

    @property
    def role(self) -> Role:
        """The role the token's user needs in a corpus for this permission."""
        return {
            Permission.QUERY: Role.READER,
            Permission.INGEST: Role.CONTRIBUTOR,
            Permission.MANAGE: Role.MANAGER,
        }[self]


class Scope(TypedDict):
    corpus: str
    permissions: list[str]


DEFAULT_SCOPES: list[Scope] = [{"corpus": ALL_CORPORA, "permissions": [Permission.QUERY.value]}]


def scopes_parse(texts: Iterable[str]) -> list[Scope]:
    """Scopes from their command-line form: ``slug:query,ingest`` or ``*:query``."""
    scopes: list[Scope] = []
    for text in texts:
        corpus, separator, permissions = text.strip().partition(":")
        if not separator:
            raise ValidationError(
                {
                    "scopes": f"Write a scope as CORPUS:PERMISSIONS, e.g. “{text.strip()}:query” "
                    "or “*:query,ingest”."
                }
            )
        scopes.append(
            {
                "corpus": corpus.strip(),
                "permissions": [p.strip() for p in permissions.split(",") if p.strip()],
            }
        )
    return scopes_clean(scopes)


def scopes_clean(value: Any) -> list[Scope]:
    """Validate scopes given as JSON; merge entries for the same corpus, order permissions."""
    if not isinstance(value, list) or not value:
        raise ValidationError({"scopes": "A token needs at least one scope."})
    merged: dict[str, set[str]] = {}
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"corpus", "permissions"}:
            raise ValidationError(
                {"scopes": 'Each scope is {"corpus": "<slug>" or "*", "permissions": [...]}.'}
            )
        corpus, permissions = entry["corpus"], entry["permissions"]
        if not isinstance(corpus, str) or not (corpus == ALL_CORPORA or _SLUG.match(corpus)):
            raise ValidationError(
                {"scopes": f"{corpus!r} is not a corpus slug (letters, digits, - and _) or *."}
            )
        if not isinstance(permissions, list) or not permissions:
            raise ValidationError(
                {"scopes": f"The scope for {corpus} needs at least one permission."}
            )
        unknown = [p for p in permissions if p not in Permission.values]
        if unknown:
            raise ValidationError(
                {
                    "scopes": f"Unknown permission {unknown[0]!r}. Choose from: "
                    f"{', '.join(Permission.values)}."
                }
            )
        merged.setdefault(corpus, set()).update(permissions)
    return [
        {"corpus": corpus, "permissions": [p for p in Permission.values if p in permissions]}
        for corpus, permissions in merged.items()
    ]


def scope_permissions(scopes: Sequence[Scope], slug: str) -> set[str]:
    """What the scopes grant on the corpus `slug` (before the user's role is checked)."""
    granted: set[str] = set()
    for scope in scopes:
        if scope["corpus"] in (ALL_CORPORA, slug):
            granted.update(scope["permissions"])
    return granted


def scope_slugs(scopes: Sequence[Scope], permission: str) -> set[str] | None:
    """The slugs the scopes grant `permission` on; None means every corpus."""
    slugs = set()
    for scope in scopes:
        if permission in scope["permissions"]:
            if scope["corpus"] == ALL_CORPORA:
                return None
            slugs.add(scope["corpus"])
    return slugs


def scopes_describe(scopes: Sequence[Scope]) -> str:
    """``policies: query, ingest; *: query``"""
    return "; ".join(
        f"{'all corpora' if s['corpus'] == ALL_CORPORA else s['corpus']}: "
        f"{', '.join(s['permissions'])}"
        for s in scopes
    )


def scopes_as_text(scopes: Sequence[Scope]) -> list[str]:
    """The command-line form, one string per scope."""
    return [f"{s['corpus']}:{','.join(s['permissions'])}" for s in scopes]

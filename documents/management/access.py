"""Who a management command acts for.

Without --user a command acts as the operator: shell access is admin access. With --user it
may do only what that user may do in the web UI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from documents.models import Corpus, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_MAY = {
    Role.READER: "read",
    Role.CONTRIBUTOR: "add documents to",
    Role.MANAGER: "manage",
}


def command_user(username: str | None) -> User | None:
    """The user named by --user; None when the option was not given."""
    if not username:
        return None
    user: User | None = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user {username!r}.")
    return user


def require_role(*, corpus: Corpus, user: User | None, role: Role) -> None:
    """Refuse unless `user` (if given) holds `role` in the corpus, or is a superuser."""
    if user is None or Corpus.objects.for_user(user, role).filter(pk=corpus.pk).exists():
        return
    if not user.is_active:
        raise CommandError(f"User {user.username!r} is inactive.")
    raise CommandError(
        f"User {user.username!r} may not {_MAY[role]} the corpus {corpus.slug!r} "
        f"(that needs the {role.value} role there). Ask a manager of the corpus to add them, "
        "or run the command without --user."
    )

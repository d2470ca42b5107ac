from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api import services
from api.models import ApiToken
from api.scopes import scopes_as_text, scopes_parse


class Command(BaseCommand):
    help = "Create, list and revoke API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="Create a token and print it (once).")
        create.add_argument("--user", required=True, metavar="USERNAME")
        create.add_argument("--name", default="Command line", help="What will use it.")
        create.add_argument(
            "--scope",
            dest="scopes",
            action="extend",
            nargs="+",
            metavar="SCOPE",
            help="CORPUS:PERMISSIONS, e.g. handbook:query,ingest or *:query (default *:query).",
        )
        create.add_argument("--expires", type=int, metavar="DAYS", help="Expire after DAYS.")

        listing = actions.add_parser("list", help="List tokens (never their secrets).")
        listing.add_argument("--user", metavar="USERNAME", help="Only this user's tokens.")

        revoke = actions.add_parser("revoke", help="Revoke a token.")
        revoke.add_argument("prefix", metavar="PREFIX", help="The token's prefix (dct_XXXXXXXX).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error

    def _create(self, options: dict[str, Any]) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
        scopes = scopes_parse(options["scopes"] or ["*:query"])
        token, plaintext = services.token_create(
            user=user, name=options["name"], scopes=scopes, expires_in_days=options["expires"]
        )
        self.stderr.write(
            f"Created token {token.display_prefix} “{token.name}” for {user.get_username()} "
            f"({' '.join(scopes_as_text(token.scope_list))}"
            f"{', expires ' + token.expires_at.isoformat() if token.expires_at else ''}). "
            "It is shown only now:"
        )
        self.stdout.write(plaintext)

    def _list(self, options: dict[str, Any]) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("user__username", "created_at")
        if options["user"]:
            tokens = tokens.filter(user__username=options["user"])
        if not tokens:
            self.stdout.write("No tokens.")
            return
        for token in tokens:
            expires = token.expires_at.date().isoformat() if token.expires_at else "never"
            used = token.last_used_at.isoformat(timespec="minutes") if token.last_used_at else "-"
            self.stdout.write(
                f"{ApiToken.MARKER}{token.prefix}  {token.user.get_username():<16} "
                f"{token.state.value:<8} expires {expires:<10}  last used {used:<16}  "
                f"{' '.join(scopes_as_text(token.scope_list)):<24}  {token.name}"
            )

    def _revoke(self, options: dict[str, Any]) -> None:
        prefix = options["prefix"].strip().removeprefix(ApiToken.MARKER).rstrip("…")
        prefix = prefix[: ApiToken.PREFIX_LENGTH]
        token = ApiToken.objects.filter(prefix=prefix).first() if prefix else None
        if token is None:
            raise CommandError(f"No token with the prefix {options['prefix']!r}.")
        was_revoked = token.revoked_at is not None
        services.token_revoke(token=token)
        state = "was already revoked" if was_revoked else "revoked"
        self.stdout.write(f"Token {token.display_prefix} “{token.name}” {state}.")

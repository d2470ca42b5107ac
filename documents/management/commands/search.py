from __future__ import annotations

import json
import textwrap
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from documents import services
from documents.backends.base import IndexingError
from documents.management.access import command_user, require_role
from documents.models import Corpus, Role


class Command(BaseCommand):
    help = "Search a corpus (hybrid full-text + vector by default) and print the passages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("query")
        parser.add_argument("--corpus", required=True, metavar="SLUG")
        parser.add_argument("--k", type=int, default=5, help="Number of passages (default 5).")
        parser.add_argument("--mode", choices=["hybrid", "vector", "fulltext"], default="hybrid")
        parser.add_argument("--json", action="store_true", help="Print a JSON list.")
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="Search as this user, who must be able to read the corpus (default: as the "
            "operator).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = command_user(options["user"])
        corpus = Corpus.objects.filter(slug=options["corpus"]).first()
        if corpus is None:
            raise CommandError(f"No corpus with slug {options['corpus']!r}.")
        require_role(corpus=corpus, user=user, role=Role.READER)
        try:
            hits = services.corpus_search(
                corpus=corpus, query=options["query"], k=options["k"], mode=options["mode"]
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        except IndexingError as error:
            raise CommandError(str(error)) from error
        if options["json"]:
            self.stdout.write(json.dumps([hit.as_dict() for hit in hits], ensure_ascii=False))
            return
        if not hits:
            self.stdout.write("No matching passages.")
            return
        for rank, hit in enumerate(hits, start=1):
            pages = (
                f"p. {hit.page_start}"
                if hit.page_start == hit.page_end
                else f"pp. {hit.page_start}-{hit.page_end}"
            )
            self.stdout.write(f"{rank}. {hit.document} ({pages}) score {hit.score:.4f}")
            snippet = " ".join(hit.text.split())
            self.stdout.write(textwrap.indent(textwrap.shorten(snippet, 400), "   "))

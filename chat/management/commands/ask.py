from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat import services
from chat.models import Conversation
from chat.strategies.base import TextDelta
from documents.management.access import command_user, require_role
from documents.models import Corpus, Role


class Command(BaseCommand):
    help = "Ask a corpus a question and stream the cited answer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("question")
        parser.add_argument("--corpus", required=True, metavar="SLUG")
        parser.add_argument(
            "--strategy",
            choices=sorted(settings.CHAT_STRATEGIES),
            help="Answer strategy (default: the corpus's).",
        )
        parser.add_argument(
            "--conversation", type=int, metavar="ID", help="Continue this conversation."
        )
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="Ask as this user, who must be able to read the corpus (default: as the "
            "operator; the conversation then belongs to no user).",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = command_user(options["user"])
        corpus = Corpus.objects.filter(slug=options["corpus"]).first()
        if corpus is None:
            raise CommandError(f"No corpus with slug {options['corpus']!r}.")
        require_role(corpus=corpus, user=user, role=Role.READER)
        try:
            conversation = self._conversation(corpus, user, options)
            events = services.message_ask(conversation=conversation, question=options["question"])
            result = None
            for event in events:
                if isinstance(event, TextDelta) and not options["json"]:
                    self.stdout.write(event.text, ending="")
                    self.stdout.flush()
                elif isinstance(event, services.AskCompleted | services.AskFailed):
                    result = event
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        assert result is not None
        message = result.message
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "answer": message.content,
                        "citations": message.citations,
                        "strategy": message.strategy,
                        "conversation_id": conversation.pk,
                        "message_id": message.pk,
                        "status": message.status,
                        "error": message.error,
                        "notice": message.notice,
                        "usage": message.usage,
                        "latency_ms": message.latency_ms,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            self._print_sources(message.citations, message.notice)
            self.stdout.write(f"\n(conversation {conversation.pk}, {message.strategy})")
        if isinstance(result, services.AskFailed):
            raise CommandError(message.error, returncode=1)

    def _conversation(self, corpus: Corpus, user: Any, options: dict[str, Any]) -> Conversation:
        if options["conversation"]:
            conversation = Conversation.objects.filter(
                pk=options["conversation"], corpus=corpus, user=user
            ).first()
            if conversation is None:
                raise CommandError(
                    f"No conversation {options['conversation']} for this corpus and user."
                )
            if options["strategy"] and options["strategy"] != conversation.strategy:
                conversation = services.conversation_switch_strategy(
                    conversation=conversation, strategy=options["strategy"]
                )
            return conversation
        return services.conversation_start(corpus=corpus, user=user, strategy=options["strategy"])

    def _print_sources(self, citations: list[dict[str, Any]], notice: str) -> None:
        self.stdout.write("")
        if notice:
            self.stdout.write(f"\n({notice})")
        if citations:
            self.stdout.write("\nSources:")
        for citation in citations:
            page = f", p. {citation['page']}" if citation.get("page") else ""
            quote = " ".join(citation["quote"].split())
            quote = quote if len(quote) <= 160 else quote[:157] + "…"
            self.stdout.write(f"  [{citation['number']}] {citation['document']}{page}: “{quote}”")

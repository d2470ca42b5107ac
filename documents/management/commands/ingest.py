from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from documents import services
from documents.management.access import command_user, require_role
from documents.models import Corpus, Document, DocumentStage, DocumentStatus, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import User

NO_PROGRESS_HINT_SECONDS = 30


class Command(BaseCommand):
    help = "Upload files (or whole directories, recursively) into a corpus and queue them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument("--corpus", required=True, metavar="SLUG")
        parser.add_argument(
            "--create", action="store_true", help="Create the corpus if it does not exist."
        )
        parser.add_argument("--name", help="Name of a corpus created with --create.")
        parser.add_argument(
            "--backend",
            choices=sorted(settings.INDEX_BACKENDS),
            help=f"Index backend of a new corpus (default {settings.DEFAULT_INDEX_BACKEND}).",
        )
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="Upload as this user, who must be a contributor of the corpus (default: as "
            "the operator, with full access).",
        )
        parser.add_argument(
            "--wait", action="store_true", help="Wait until every document is ready or failed."
        )
        parser.add_argument(
            "--inline",
            action="store_true",
            help="Process the documents in this process instead of a Celery worker.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = command_user(options["user"])
        corpus = self._corpus(options, user)
        files = self._collect(options["paths"])
        if not files:
            raise CommandError("No files found in the given paths.")

        rejected = 0
        documents: dict[int, Path] = {}
        for index, path in enumerate(files, start=1):
            prefix = f"[{index}/{len(files)}] {path}"
            try:
                # --inline runs ingestion here: no message, so that no worker takes it meanwhile.
                outcome = services.document_upload_path(
                    corpus=corpus, path=path, uploaded_by=user, enqueue=not options["inline"]
                )
            except ValidationError as error:
                rejected += 1
                self.stdout.write(f"{prefix}: rejected: {' '.join(error.messages)}")
                continue
            except OSError as error:
                rejected += 1
                self.stdout.write(f"{prefix}: cannot read: {error.strerror}")
                continue
            document = outcome.document
            documents[document.pk] = path
            if outcome.duplicate:
                self.stdout.write(
                    f"{prefix}: duplicate of document {document.pk} ({document.filename}, "
                    f"{document.status}); not ingested again"
                )
            else:
                self.stdout.write(f"{prefix}: queued as document {document.pk}")

        failed = 0
        if options["inline"]:
            for document_id, path in documents.items():
                services.document_ingest(document_id=document_id)
                failed += self._report(Document.objects.get(pk=document_id), path)
        elif options["wait"]:
            failed = self._wait(documents)
        self.stdout.write(
            f"{len(documents)} documents in corpus {corpus.slug!r}; "
            f"{rejected} rejected; {failed} failed."
        )
        if rejected or failed:
            raise CommandError("Some files were not ingested.", returncode=1)

    def _corpus(self, options: dict[str, Any], user: User | None) -> Corpus:
        slug = options["corpus"]
        corpus = Corpus.objects.filter(slug=slug).first()
        if corpus is not None:
            if options["backend"] and options["backend"] != corpus.index_backend:
                raise CommandError(
                    f"Corpus {slug!r} uses the {corpus.index_backend!r} backend, "
                    f"not {options['backend']!r}."
                )
            require_role(corpus=corpus, user=user, role=Role.CONTRIBUTOR)
            return corpus
        if not options["create"]:
            raise CommandError(f"No corpus with slug {slug!r}. Add --create to create it.")
        if user is not None and not (user.is_active and user.is_superuser):
            raise CommandError(
                f"User {user.username!r} may not create corpora (only superusers may). Create "
                "it without --user, or in the admin, and make them a contributor."
            )
        try:
            corpus = services.corpus_create(
                name=options["name"] or slug,
                slug=slug,
                index_backend=options["backend"],
                created_by=user,
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(f"Created corpus {corpus.slug!r} ({corpus.index_backend}).")
        return corpus

    def _collect(self, paths: list[Path]) -> list[Path]:
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                files.extend(
                    sorted(
                        p
                        for p in path.rglob("*")
                        if p.is_file() and not any(part.startswith(".") for part in p.parts)
                    )
                )
            elif path.is_file():
                files.append(path)
            else:
                raise CommandError(f"{path} does not exist.")
        return files

    def _wait(self, documents: dict[int, Path]) -> int:
        pending = set(documents)
        failed = 0
        last_seen: dict[int, tuple[str, str, int]] = {}
        last_change = time.monotonic()
        hinted = False
        while pending:
            for document in Document.objects.filter(pk__in=pending):
                state = (document.status, document.stage, int(document.progress * 10))
                if last_seen.get(document.pk) != state:
                    last_seen[document.pk] = state
                    last_change = time.monotonic()
                    if document.is_final:
                        failed += self._report(document, documents[document.pk])
                        pending.discard(document.pk)
                    elif document.status == DocumentStatus.PROCESSING:
                        stage = DocumentStage(document.stage).label if document.stage else ""
                        self.stdout.write(
                            f"{documents[document.pk]}: {stage} {document.progress:.0%}"
                        )
            missing = pending - set(
                Document.objects.filter(pk__in=pending).values_list("pk", flat=True)
            )
            for document_id in missing:
                self.stdout.write(f"{documents[document_id]}: deleted while waiting")
                pending.discard(document_id)
                failed += 1
            if pending:
                if not hinted and time.monotonic() - last_change > NO_PROGRESS_HINT_SECONDS:
                    hinted = True
                    self.stdout.write(
                        "No progress for 30 s. Is a worker running? `python dev.py run` starts "
                        "one; or run this command with --inline."
                    )
                time.sleep(0.5)
        return failed

    def _report(self, document: Document, path: Path) -> int:
        if document.status == DocumentStatus.READY:
            detail = f"{document.page_count} pages, {document.chunk_count} chunks"
            if document.warning:
                detail += f"; warning: {document.warning}"
            self.stdout.write(f"{path}: ready ({detail})")
            return 0
        if document.status == DocumentStatus.FAILED:
            self.stdout.write(f"{path}: failed: {document.error}")
            return 1
        # A duplicate of a document a worker is processing (or has queued) is not run here.
        self.stdout.write(f"{path}: left to a worker ({document.status}); not processed here.")
        return 0

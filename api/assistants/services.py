"""Writes behind the Assistants v2 endpoints: assistants, threads and their Docent
conversations, messages, runs (a question answered by the corpus's strategy, through the same
path as /v1/chat/completions), and files added to corpora.

Access (which corpus a vector store id names, whose thread it is) is decided by the caller;
these functions take the objects it found."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from api.assistants import citations as markers
from api.assistants.models import (
    ApiFile,
    Assistant,
    AssistantThread,
    FileBatch,
    RunStatus,
    ThreadMessage,
    ThreadMessageRole,
    ThreadRun,
)
from api.models import ApiInterface, ApiToken
from api.services import api_ask, api_conversation_start
from chat.services import (
    AskCompleted,
    AskEvent,
    AskFailed,
    AskStarted,
    conversation_add_turns,
)
from chat.services import conversation_delete as chat_conversation_delete
from chat.strategies.base import Turn
from documents import services as document_services
from documents.models import Corpus, Document

if TYPE_CHECKING:
    from chat.models import Message

logger = logging.getLogger(__name__)

_DOCUMENT_FILE_ID = re.compile(r"^file-docent-(\d{1,18})$")


# --- file ids -------------------------------------------------------------------------------------


def document_file_id(document_id: int) -> str:
    return f"file-docent-{document_id}"


def document_id_from_file_id(file_id: str) -> int | None:
    match = _DOCUMENT_FILE_ID.match(file_id)
    return int(match.group(1)) if match else None


def file_ids_for_documents(document_ids: Sequence[int]) -> dict[int, str]:
    """The file id to show for each document: the /v1/files upload it came from, else one
    derived from the document's id."""
    ids = {pk: document_file_id(pk) for pk in document_ids}
    through = ApiFile.documents.through.objects.filter(document_id__in=list(ids)).order_by("id")
    for row in through.select_related("apifile"):
        ids[row.document_id] = row.apifile.public_id
    return ids


# --- assistants -----------------------------------------------------------------------------------


def assistant_create(*, token: ApiToken, fields: dict[str, Any]) -> Assistant:
    assistant = Assistant.objects.create(user=token.user, token=token, **fields)
    logger.info("assistant %s created by token %s", assistant.pk, token.pk)
    return assistant


def assistant_update(*, assistant: Assistant, fields: dict[str, Any]) -> Assistant:
    for name, value in fields.items():
        setattr(assistant, name, value)
    assistant.save()
    return assistant


def assistant_delete(*, assistant: Assistant) -> None:
    logger.info("assistant %s deleted", assistant.pk)
    assistant.delete()


# --- threads and messages -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewMessage:
    role: str
    content: str
    attachments: list[Any]
    metadata: dict[str, Any]


def thread_create(
    *,
    token: ApiToken,
    corpus: Corpus | None,
    tool_resources: dict[str, Any],
    metadata: dict[str, Any],
    messages: Sequence[NewMessage] = (),
) -> AssistantThread:
    """A thread; with a corpus it is a Docent conversation from the start."""
    with transaction.atomic():
        conversation = None
        if corpus is not None:
            conversation = api_conversation_start(
                token=token, corpus=corpus, interface=ApiInterface.OPENAI
            )
        thread = AssistantThread.objects.create(
            user=token.user,
            token=token,
            conversation=conversation,
            tool_resources=tool_resources,
            metadata=metadata,
        )
        for message in messages:
            thread_message_add(thread=thread, message=message)
    logger.info("thread %s created by token %s", thread.pk, token.pk)
    return thread


def thread_update(
    *, thread: AssistantThread, metadata: dict[str, Any] | None, tool_resources: Any = None
) -> AssistantThread:
    if metadata is not None:
        thread.metadata = metadata
    if tool_resources is not None:
        thread.tool_resources = tool_resources
    thread.save()
    return thread


def thread_delete(*, thread: AssistantThread) -> None:
    """The thread and its conversation: they are one thing seen from two sides."""
    with transaction.atomic():
        if thread.conversation is not None:
            chat_conversation_delete(conversation=thread.conversation)
        AssistantThread.objects.filter(pk=thread.pk).delete()
    logger.info("thread %s deleted", thread.pk)


def thread_message_add(
    *, thread: AssistantThread, message: NewMessage, run: ThreadRun | None = None
) -> ThreadMessage:
    if not message.content.strip():
        raise ValidationError({"content": "A message needs some text."})
    return ThreadMessage.objects.create(
        thread=thread,
        role=message.role,
        content=message.content,
        attachments=message.attachments,
        metadata=message.metadata,
        run=run,
    )


def thread_message_update(*, message: ThreadMessage, metadata: dict[str, Any]) -> ThreadMessage:
    message.metadata = metadata
    message.save(update_fields=["metadata"])
    return message


def thread_pending(thread: AssistantThread) -> list[ThreadMessage]:
    """Messages added since the last answer a run wrote: what the next run answers."""
    answered = (
        ThreadMessage.objects.filter(thread=thread, run__isnull=False, role="assistant")
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    pending = ThreadMessage.objects.filter(thread=thread).order_by("id")
    return list(pending.filter(id__gt=answered) if answered else pending)


def turns_and_question(pending: Sequence[ThreadMessage]) -> tuple[list[Turn], str]:
    """Client-supplied turns and the question (the last user messages, joined)."""
    said: list[tuple[str, str]] = []
    for message in pending:
        if said and said[-1][0] == message.role:
            said[-1] = (message.role, f"{said[-1][1]}\n\n{message.content}")
        else:
            said.append((message.role, message.content))
    if not said or said[-1][0] != ThreadMessageRole.USER:
        raise ValidationError(
            {
                "thread_id": "The thread has no new user message to answer: add one with "
                "POST /v1/threads/{thread_id}/messages before creating a run."
            }
        )
    question = said.pop()[1]
    turns: list[Turn] = []
    asked: str | None = None
    for role, text in said:
        if role == ThreadMessageRole.USER:
            asked = text
        elif asked is not None:
            turns.append(Turn(question=asked, answer=text))
            asked = None
    return turns, question


# --- runs -----------------------------------------------------------------------------------------


def run_create(
    *,
    thread: AssistantThread,
    assistant: Assistant,
    fields: dict[str, Any],
    additional_messages: Sequence[NewMessage] = (),
) -> ThreadRun:
    """A queued run, after checking that there is a question to answer."""
    with transaction.atomic():
        for message in additional_messages:
            thread_message_add(thread=thread, message=message)
        turns_and_question(thread_pending(thread))
        run = ThreadRun.objects.create(
            thread=thread, assistant=assistant, assistant_public_id=assistant.public_id, **fields
        )
    logger.info("run %s created in thread %s", run.pk, thread.pk)
    return run


@dataclass(frozen=True)
class RunAnswered:
    """The run is over (completed or failed); `message` is the answer it wrote, if any."""

    run: ThreadRun
    message: ThreadMessage | None


RunEvent = AskEvent | RunAnswered


def run_execute(
    *, token: ApiToken, run: ThreadRun, corpus: Corpus, message_public_id: str
) -> Iterator[RunEvent]:
    """Answer the thread's pending question from `corpus` and write the outcome on the run.
    Yields the answering events (for streaming) and finally `RunAnswered`. If the consumer
    stops early, the run is cancelled and the partial answer kept in the conversation."""
    thread = run.thread
    pending = thread_pending(thread)
    turns, question = turns_and_question(pending)
    conversation = thread.conversation
    if conversation is not None and turns:
        conversation_add_turns(conversation=conversation, turns=turns)
    run.status = RunStatus.IN_PROGRESS
    run.started_at = timezone.now()
    run.save(update_fields=["status", "started_at"])
    finished = False
    try:
        stream = api_ask(
            token=token,
            corpus=corpus,
            question=question,
            interface=ApiInterface.OPENAI,
            conversation=conversation,
            history=turns if conversation is None else (),
        )
        for event in stream:
            if isinstance(event, AskStarted):
                if thread.conversation_id is None:
                    thread.conversation = event.conversation
                    thread.save(update_fields=["conversation"])
                last_user = [m for m in pending if m.role == ThreadMessageRole.USER][-1]
                ThreadMessage.objects.filter(pk=last_user.pk).update(chat_message=event.question)
            elif isinstance(event, AskCompleted):
                message = _answer_write(run=run, answer=event.message, public_id=message_public_id)
                finished = True
                yield event
                yield RunAnswered(run=run, message=message)
                return
            elif isinstance(event, AskFailed):
                _run_fail(run=run, answer=event.message, code=event.code)
                finished = True
                yield event
                yield RunAnswered(run=run, message=None)
                return
            yield event
        # The answer stopped without an outcome (someone pressed Stop in the web UI).
        _run_cancel(run)
        finished = True
        yield RunAnswered(run=run, message=None)
    except ValidationError:
        _run_fail(run=run, answer=None, code="invalid_prompt", validation=True)
        finished = True
        raise
    finally:
        if not finished:
            _run_cancel(run)


def _run_cancel(run: ThreadRun) -> None:
    run.status = RunStatus.CANCELLED
    run.failed_at = timezone.now()
    run.save(update_fields=["status", "failed_at"])
    logger.info("run %s cancelled before its answer was complete", run.pk)


def run_answer_text(run: ThreadRun, answer: Message) -> tuple[str, list[dict[str, Any]]]:
    file_ids = file_ids_for_documents(
        [int(c["document_id"]) for c in answer.citations if c.get("document_id")]
    )
    return markers.render(
        answer.content,
        answer.citations,
        message_index=run_message_index(run),
        file_id=lambda pk: file_ids.get(pk) or document_file_id(pk),
    )


def run_message_index(run: ThreadRun) -> int:
    # OpenAI numbers markers by the message the search results were shown in; the run's
    # position in its thread plays that part here and keeps markers of different runs apart.
    return ThreadRun.objects.filter(thread_id=run.thread_id, id__lt=run.pk).count()


def _answer_write(*, run: ThreadRun, answer: Message, public_id: str) -> ThreadMessage:
    text, annotations = run_answer_text(run, answer)
    with transaction.atomic():
        message = ThreadMessage.objects.create(
            public_id=public_id,
            thread=run.thread,
            role=ThreadMessageRole.ASSISTANT,
            content=text,
            annotations=annotations,
            run=run,
            assistant_public_id=run.assistant_public_id,
            chat_message=answer,
        )
        run.status = RunStatus.COMPLETED
        run.completed_at = timezone.now()
        run.answer = answer
        run.prompt_tokens = answer.prompt_tokens
        run.completion_tokens = answer.completion_tokens
        run.save()
    logger.info("run %s completed (answer %s)", run.pk, answer.pk)
    return message


def _run_fail(
    *, run: ThreadRun, answer: Message | None, code: str, validation: bool = False
) -> None:
    if validation:
        error = {"code": "invalid_prompt", "message": "The question was refused."}
    else:
        wire = "rate_limit_exceeded" if code == "rate_limited" else "server_error"
        error = {"code": wire, "message": answer.error if answer is not None else code}
    run.status = RunStatus.FAILED
    run.failed_at = timezone.now()
    run.last_error = error
    run.answer = answer
    run.save()
    logger.info("run %s failed (%s)", run.pk, code)


# --- files ----------------------------------------------------------------------------------------


def file_create(*, token: ApiToken, upload: IO[bytes], filename: str, purpose: str) -> ApiFile:
    size = getattr(upload, "size", None)
    if size is None:
        upload.seek(0, 2)
        size = upload.tell()
        upload.seek(0)
    if not size:
        raise ValidationError({"file": f"{filename} is empty (0 bytes)."})
    # Refused now, as a corpus would refuse it when the file is added to a vector store.
    document_services.document_check_upload(file=upload, filename=filename)
    upload.seek(0)
    api_file = ApiFile(user=token.user, token=token, filename=filename[:255], purpose=purpose)
    api_file.bytes = size
    api_file.file.save(filename, File(upload, name=filename), save=False)
    api_file.save()
    logger.info("file %s uploaded by token %s", api_file.pk, token.pk)
    return api_file


def file_delete(*, api_file: ApiFile) -> None:
    """The upload goes; documents made from it stay in their corpora."""
    api_file.file.delete(save=False)
    api_file.delete()


def vector_store_file_add(*, api_file: ApiFile, corpus: Corpus) -> Document:
    """The uploaded file as a document of the corpus (queued for ingestion); the same content
    added twice is the document already there."""
    with api_file.file.open("rb") as handle:
        outcome = document_services.document_upload(
            corpus=corpus, file=handle, filename=api_file.filename, uploaded_by=api_file.user
        )
    api_file.documents.add(outcome.document)
    logger.info(
        "file %s added to corpus %s as document %s", api_file.pk, corpus.pk, outcome.document.pk
    )
    return outcome.document


def file_batch_create(*, token: ApiToken, corpus: Corpus, files: Sequence[ApiFile]) -> FileBatch:
    with transaction.atomic():
        for api_file in files:
            vector_store_file_add(api_file=api_file, corpus=corpus)
        batch = FileBatch.objects.create(user=token.user, corpus=corpus)
        batch.files.set(files)
    return batch

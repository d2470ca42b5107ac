"""Question sets: creating, importing (CSV or JSON lines) and drafting from feedback.

An imported row has `question` and any of `expected_documents` (filenames, "|"-separated in
CSV), `expected_pages` (numbers, "|"-separated in CSV), `expected_answer` and `answerable`
(true/false; default true). A question with none of the expectations must be "not answerable".
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from evaluation.models import Question, QuestionOrigin, QuestionSet

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from documents.models import Corpus

logger = logging.getLogger(__name__)

MAX_IMPORT_ROWS = 5000
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", "not answerable", "unanswerable"}


def question_set_create(
    *, corpus: Corpus, name: str, description: str = "", user: User | None = None
) -> QuestionSet:
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": "Give the question set a name."})
    if QuestionSet.objects.filter(corpus=corpus, name=name).exists():
        raise ValidationError({"name": f"“{corpus.slug}” already has a question set “{name}”."})
    question_set = QuestionSet.objects.create(
        corpus=corpus, name=name[:100], description=description, created_by=user
    )
    logger.info("question set %s created for corpus %s", question_set.pk, corpus.pk)
    return question_set


def question_validate(question: Question) -> None:
    """The rules a question obeys, whoever writes it (admin form, import)."""
    if not question.text.strip():
        raise ValidationError({"text": "A question needs its text."})
    if question.answerable and not (
        question.expected_documents or question.expected_answer.strip()
    ):
        raise ValidationError(
            {
                "expected_documents": "Name the document(s) that answer it, give the expected "
                "answer, or mark it not answerable."
            }
        )
    if question.expected_pages and not question.expected_documents:
        raise ValidationError({"expected_pages": "Pages are counted within expected documents."})
    if not all(isinstance(p, int) and p > 0 for p in question.expected_pages):
        raise ValidationError({"expected_pages": "Pages are whole numbers from 1."})
    if not all(isinstance(d, str) and d.strip() for d in question.expected_documents):
        raise ValidationError({"expected_documents": "Documents are named by their filename."})


@dataclass(frozen=True)
class ImportOutcome:
    created: int
    errors: list[str]  # "line 4: ..." for every refused row; nothing is stored if any


def questions_import(*, question_set: QuestionSet, data: bytes, filename: str) -> ImportOutcome:
    """Add the questions of a CSV or JSON-lines file; all or nothing, with every bad line
    named."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ImportOutcome(created=0, errors=["The file is not UTF-8 text."])
    lower = filename.lower()
    if lower.endswith((".jsonl", ".json", ".ndjson")):
        rows, errors = _jsonl_rows(text)
    elif lower.endswith(".csv"):
        rows, errors = _csv_rows(text)
    else:
        return ImportOutcome(
            created=0, errors=["Import a .csv or .jsonl file (one question per row or line)."]
        )
    if len(rows) > MAX_IMPORT_ROWS:
        return ImportOutcome(created=0, errors=[f"At most {MAX_IMPORT_ROWS} questions per file."])
    questions: list[Question] = []
    for line, row in rows:
        try:
            question = _question_from(row, question_set)
            question_validate(question)
        except ValidationError as error:
            errors.append(f"line {line}: {_message(error)}")
            continue
        questions.append(question)
    if not questions and not errors:
        errors.append("The file holds no questions.")
    if errors:
        return ImportOutcome(created=0, errors=errors)
    with transaction.atomic():
        Question.objects.bulk_create(questions)
    logger.info("question set %s: %s questions imported", question_set.pk, len(questions))
    return ImportOutcome(created=len(questions), errors=[])


def _message(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return " ".join(error.messages)


def _jsonl_rows(text: str) -> tuple[list[tuple[int, Mapping[str, Any]]], list[str]]:
    rows: list[tuple[int, Mapping[str, Any]]] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            errors.append(f"line {number}: not JSON ({error.msg})")
            continue
        if not isinstance(value, dict):
            errors.append(f"line {number}: each line is one JSON object")
            continue
        rows.append((number, value))
    return rows, errors


def _csv_rows(text: str) -> tuple[list[tuple[int, Mapping[str, Any]]], list[str]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "question" not in [f.strip() for f in reader.fieldnames]:
        return [], ["The CSV needs a header row with a “question” column."]
    rows: list[tuple[int, Mapping[str, Any]]] = []
    for row in reader:
        cleaned = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if any(cleaned.values()):
            rows.append((reader.line_num, cleaned))
    return rows, []


def _split(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [part.strip() for part in value.split("|") if part.strip()]
    return [value]


def _pages(value: Any) -> list[int]:
    pages = []
    for page in _split(value):
        if isinstance(page, bool) or not str(page).strip().isdigit():
            raise ValidationError({"expected_pages": f"{page!r} is not a page number."})
        pages.append(int(page))
    return pages


def _boolean(value: Any, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValidationError({"answerable": f"{value!r} is not true or false."})


def _question_from(row: Mapping[str, Any], question_set: QuestionSet) -> Question:
    known = {"question", "expected_documents", "expected_pages", "expected_answer", "answerable"}
    unknown = sorted(set(row) - known - {"id", "notes"})
    if unknown:
        raise ValidationError(
            {"question": f"unknown column(s) {', '.join(unknown)}; use {', '.join(sorted(known))}"}
        )
    return Question(
        question_set=question_set,
        text=str(row.get("question") or "").strip(),
        expected_documents=[str(d) for d in _split(row.get("expected_documents"))],
        expected_pages=_pages(row.get("expected_pages")),
        expected_answer=str(row.get("expected_answer") or "").strip(),
        answerable=_boolean(row.get("answerable"), default=True),
        origin=QuestionOrigin.IMPORT,
    )


def questions_draft_from_feedback(*, question_set: QuestionSet) -> int:
    """Draft a question for every rated answer of the corpus not drafted yet: a thumbs up
    proposes the documents and pages it cited as expected; a thumbs down proposes only the
    question. Drafts are not evaluated until a person confirms them."""
    from chat.models import Feedback, Message, MessageRole

    drafted = set(
        question_set.questions.exclude(source_message=None).values_list("source_message", flat=True)
    )
    feedback = (
        Feedback.objects.filter(
            message__conversation__corpus=question_set.corpus, message__role=MessageRole.ASSISTANT
        )
        .exclude(message_id__in=drafted)
        .select_related("message")
        .order_by("message_id", "-created_at")
    )
    questions: list[Question] = []
    seen: set[int] = set()
    for item in feedback:
        if item.message_id in seen:
            continue
        seen.add(item.message_id)
        asked = (
            Message.objects.filter(
                conversation_id=item.message.conversation_id,
                role=MessageRole.USER,
                id__lt=item.message_id,
            )
            .order_by("-id")
            .first()
        )
        if asked is None:
            continue
        documents, pages = _cited(item.message.citations) if item.rating == "up" else ([], [])
        questions.append(
            Question(
                question_set=question_set,
                text=asked.content,
                expected_documents=documents,
                expected_pages=pages,
                answerable=True,
                confirmed=False,
                origin=QuestionOrigin.FEEDBACK,
                source_message=item.message,
                feedback_rating=item.rating,
            )
        )
    Question.objects.bulk_create(questions)
    logger.info("question set %s: %s drafts from feedback", question_set.pk, len(questions))
    return len(questions)


def _cited(citations: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[int]]:
    documents: dict[str, None] = {}
    pages: dict[int, None] = {}
    for citation in citations:
        if citation.get("document"):
            documents[str(citation["document"])] = None
        if citation.get("page"):
            pages[int(citation["page"])] = None
    return list(documents), sorted(pages)


def questions_confirm(*, questions: Iterable[Question]) -> int:
    """Confirm drafts; each must be complete first (expected documents or answer, or not
    answerable)."""
    confirmed = 0
    for question in questions:
        question_validate(question)
        if not question.confirmed:
            question.confirmed = True
            question.save(update_fields=["confirmed"])
            confirmed += 1
    return confirmed

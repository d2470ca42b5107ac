"""The evaluation sets of bench/retrieval.py: their files and their questions.

- techdocs: Hatch's documentation (bench/data/hatch-docs, see its SOURCES.md) with the
  hand-written questions of bench/data/techdocs.jsonl: each answerable one names its file and an
  exact answer string (`techdocs_check` proves each is in the parsed text); the others are not
  answered by the corpus.
- sec: the 20 SEC 10-Q filings and 195 reviewed questions of ../shared/data/rag-qa/docugami-sec-10q.
  A question names its source filings by a glob ("*2023 Q3 AAPL*", "*AAPL*"); its key figures
  are the numbers of its reviewed answer (see `key_figures`).
- scifact: BEIR SciFact's 5,183 abstracts and 300 test claims with their qrels.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import scifact_files, scifact_load
from _setup import ROOT, SHARED_DATA
from django.utils.text import get_valid_filename
from retrieval_metrics import contains_answer, contains_figure

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

DATA = ROOT / "bench" / "data"
TECHDOCS_DIR = DATA / "hatch-docs"
TECHDOCS_QUESTIONS = DATA / "techdocs.jsonl"
SEC_DIR = SHARED_DATA / "rag-qa" / "docugami-sec-10q"
SCIFACT_DIR = SHARED_DATA / "beir-scifact"


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    # Uploaded filenames a relevant passage may come from; empty for an unanswerable question.
    files: frozenset[str] = frozenset()
    # A relevant passage contains one of these (answer strings, or key figures for SEC); empty:
    # any passage of `files` is relevant (SciFact abstracts).
    answers: tuple[str, ...] = ()
    figures: bool = False  # answers are numbers, matched as whole numbers
    passage_scored: bool = True  # False: only file-level metrics (SEC answers without figures)
    qrels: dict[str, int] | None = None  # filename -> grade, where the set has qrels
    answer_text: str = ""  # the reviewed answer in full, where the set has one (SEC)

    @property
    def answerable(self) -> bool:
        return bool(self.files)

    def passage_relevant(self, *, document: str, text: str) -> bool:
        if document not in self.files:
            return False
        if not self.answers:
            return True
        found = contains_figure if self.figures else contains_answer
        return any(found(text, answer) for answer in self.answers)


@dataclass(frozen=True)
class EvalSet:
    name: str
    slug: str  # the corpus in this set's benchmark database
    title: str
    files: Sequence[tuple[str, bytes | Path]]  # (uploaded filename, content or path)
    questions: list[Question]
    k: int  # search depth: 10 chunks, or 50 where documents are ranked by their best chunk
    notes: list[str] = field(default_factory=list)


# --- techdocs ------------------------------------------------------------------------------------


def techdocs_filename(path: str) -> str:
    """Docent keeps only a file's base name, and several pages are called index.md."""
    return path.replace("/", "__")


def techdocs_paths() -> list[str]:
    """The corpus: every page of the documentation, not the note on where it came from."""
    paths = (p.relative_to(TECHDOCS_DIR).as_posix() for p in TECHDOCS_DIR.rglob("*.md"))
    return sorted(path for path in paths if path != "SOURCES.md")


def techdocs_records() -> list[dict[str, Any]]:
    """One question a line: id, question, file (its path in the corpus; null when the corpus
    does not answer it), answer (a string that appears verbatim in that file), kind, and
    optionally also (other files that state the same answer verbatim)."""
    with TECHDOCS_QUESTIONS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def parsed_text(path: Path) -> str:
    """The text Docent indexes for a file: what its parser returns, pages joined."""
    from documents.parsing import parse_file

    return "\n".join(page.text for page in parse_file(path, filename=path.name).pages)


def techdocs_check() -> list[str]:
    """Problems with the question file: an answer string missing from its file's parsed text,
    an unknown file, a duplicate id. Empty when the set is sound."""
    problems: list[str] = []
    texts: dict[str, str] = {}
    seen: set[str] = set()
    for record in techdocs_records():
        qid = str(record["id"])
        if qid in seen:
            problems.append(f"{qid}: duplicate id")
        seen.add(qid)
        path, answer = record.get("file"), record.get("answer")
        if path is None or answer is None:
            if path != answer or record.get("also"):
                problems.append(f"{qid}: file and answer must both be set or both be null")
            continue
        for each in [path, *record.get("also", [])]:
            if not (TECHDOCS_DIR / each).is_file():
                problems.append(f"{qid}: no file {each}")
                continue
            if each not in texts:
                texts[each] = parsed_text(TECHDOCS_DIR / each)
            if not contains_answer(texts[each], answer):
                problems.append(f"{qid}: {answer!r} is not in the parsed text of {each}")
    return problems


def techdocs() -> EvalSet:
    questions = []
    for record in techdocs_records():
        paths = [record["file"], *record.get("also", [])] if record.get("file") else []
        questions.append(
            Question(
                id=str(record["id"]),
                text=str(record["question"]),
                files=frozenset(techdocs_filename(path) for path in paths),
                answers=(record["answer"],) if record.get("answer") else (),
            )
        )
    files = [(techdocs_filename(p), TECHDOCS_DIR / p) for p in techdocs_paths()]
    return EvalSet(
        name="techdocs",
        slug="bench-techdocs",
        title="Hatch documentation (bench/data/hatch-docs)",
        files=files,
        questions=questions,
        k=10,
    )


# --- SEC 10-Q ------------------------------------------------------------------------------------

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_NOT_FIGURES = [
    re.compile(r"SOURCE\(S\):.*", re.IGNORECASE),  # the trailing list of source files
    re.compile(r"[*\u00d7]\s*100\b"),  # "(21,213 / 81,797) * 100": arithmetic, not a figure
    re.compile(r"\b\d{4} Q\d \w+(?:\.pdf)?", re.IGNORECASE),  # "2022 Q3 AAPL.pdf"
    re.compile(rf"\b(?:{_MONTHS})\.? \d{{1,2}},? \d{{4}}"),  # dates
    re.compile(r"\b(?:Q\d|FY|fiscal(?: year)?) ?'?\d{2,4}\b", re.IGNORECASE),  # periods
    re.compile(r"(?<![$\d.,])\b(?:19[89]\d|20[0-4]\d)\b(?![.,]\d|\s*(?:million|billion))"),  # years
]
_NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.,])\d+(?:\.\d+)?")


def key_figures(answer: str) -> tuple[str, ...]:
    """The numbers of a reviewed answer that a passage must show: amounts, percentages and
    counts with at least three digits or a decimal part ("82,959", "20.34", "43.3"), as written.
    Dates, years, quarter and fiscal-year labels, file names and short integers (list markers,
    "10-Q") are not figures: they would match almost any passage of a filing."""
    text = answer
    for pattern in _NOT_FIGURES:
        text = pattern.sub(" ", text)
    figures: list[str] = []
    for match in _NUMBER.finditer(text):
        number = match.group().rstrip(".")
        digits = sum(ch.isdigit() for ch in number)
        if (digits >= 3 or "." in number) and number not in figures:
            figures.append(number)
    return tuple(figures)


def sec_sources(pattern: str, filenames: Sequence[str]) -> frozenset[str]:
    """The stored filenames a "Source Docs" glob names ("*2023 Q3 AAPL*", "*AAPL*")."""
    globs = [g.strip().replace(" ", "_") for g in pattern.split(",") if g.strip()]
    return frozenset(
        name for name in filenames if any(fnmatch.fnmatch(name, glob) for glob in globs)
    )


def sec() -> EvalSet:
    # Docent stores "2022 Q3 AAPL.pdf" as "2022_Q3_AAPL.pdf"; hits carry the stored name.
    paths = {get_valid_filename(p.name): p for p in sorted((SEC_DIR / "docs").glob("*.pdf"))}
    with (SEC_DIR / "qna_data.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    questions = []
    for i, row in enumerate(rows, start=1):
        figures = key_figures(row["Answer"])
        sources = sec_sources(row["Source Docs"], list(paths))
        if not sources:
            raise SystemExit(f"SEC question {i}: no filing matches {row['Source Docs']!r}")
        questions.append(
            Question(
                id=f"sec{i:03d}",
                text=row["Question"],
                files=sources,
                answers=figures,
                figures=True,
                passage_scored=bool(figures),
                answer_text=row["Answer"],
            )
        )
    without = sum(not q.passage_scored for q in questions)
    return EvalSet(
        name="sec",
        slug="bench-sec-10q",
        title="SEC 10-Q filings (docugami-sec-10q)",
        files=list(paths.items()),
        questions=questions,
        k=10,
        notes=[
            f"{len(questions) - without} of {len(questions)} answers have key figures; the other "
            f"{without} count in file hit@5 only"
        ],
    )


# --- SciFact -------------------------------------------------------------------------------------


def scifact() -> EvalSet:
    docs, queries, qrels = scifact_load(SCIFACT_DIR)
    questions = [
        Question(
            id=qid,
            text=text,
            files=frozenset(f"{doc}.txt" for doc in qrels[qid]),
            qrels={f"{doc}.txt": grade for doc, grade in qrels[qid].items()},
        )
        for qid, text in queries.items()
    ]
    return EvalSet(
        name="scifact",
        slug="bench-scifact",
        title="BEIR SciFact (test claims)",
        files=scifact_files(docs),
        questions=questions,
        k=50,
        notes=["a relevant passage is any chunk of a relevant abstract"],
    )


SETS: dict[str, Callable[[], EvalSet]] = {"techdocs": techdocs, "sec": sec, "scifact": scifact}

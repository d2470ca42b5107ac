"""Bounds on what reading one file may cost: decompression bombs, memory, time, XML bombs.

Two layers, because a hostile file can be small:

1. **Before parsing** (`check_package`, called by detection for every ZIP-based format: DOCX,
   PPTX, XLSX, EPUB): the number of parts, the unpacked size of each text part (XML, HTML) and
   of the whole package, read from the ZIP directory. Python's zipfile never inflates a member
   beyond the size its directory declares, so the declared sizes bound what the parsers read.
   A 63 KB .docx holding 40 MB of XML is refused here, before anything is inflated.
2. **While parsing** (`run_bounded`, around every parser): the parser runs in a forked child
   process with an address-space limit (`RLIMIT_AS`, the memory the child may add to what it
   inherited) and the parent waits at most the time limit, then kills it. A subprocess rather
   than resource limits on the worker itself, because a limit on the worker would also bound
   the embedding model and every later document, a parser that exhausts memory inside C code
   (libxml2, PDFium) may take the whole process with it, and a time limit by signal cannot
   interrupt C code. The child is forked (not spawned) so it starts in milliseconds with the
   parsers already imported and the settings of the parent; it never touches the database
   (progress is relayed to the parent, which records it). Where fork does not exist (Windows)
   the parse runs in-process without these two bounds.

XML entity bombs ("billion laughs") are refused by libxml2 itself; its messages are turned into
plain words here (`plain_reason`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import re
import signal
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from django.conf import settings

from documents.parsing.base import ParseError, ParseErrorCode

if TYPE_CHECKING:
    import zipfile
    from multiprocessing.connection import Connection

    from documents.parsing.base import ParsedDocument

logger = logging.getLogger(__name__)

MB = 1024 * 1024
DEFAULTS: dict[str, int] = {
    "DOCUMENT_MAX_ZIP_ENTRIES": 10_000,
    "DOCUMENT_MAX_UNPACKED_BYTES": 512 * MB,
    "DOCUMENT_MAX_UNPACKED_PART_BYTES": 32 * MB,
    "PARSE_MAX_MEMORY_BYTES": 2048 * MB,
    "PARSE_MAX_SECONDS": 900,
}
# Parts that parsers read as text (and that inflate in memory many times over); images, fonts
# and embedded objects are stored compressed already and are never parsed.
TEXT_PART_SUFFIXES = frozenset(
    {"", ".xml", ".rels", ".html", ".htm", ".xhtml", ".opf", ".ncx", ".svg", ".css", ".txt"}
)
SPLIT_ADVICE = "Split it into smaller files and upload them separately."
# How often the parent looks at the clock while the child is quiet.
POLL_SECONDS = 1.0


def limit(name: str) -> int:
    # Parsing also runs without Django set up (`pytest -p no:django`, scripts).
    if not settings.configured:
        return DEFAULTS[name]
    return int(getattr(settings, name, DEFAULTS[name]))


def _mb(size: int) -> str:
    return f"{size / MB:,.0f} MB" if size >= MB else f"{size:,} bytes"


def _seconds(count: int) -> str:
    return f"{count:,} second{'s' if count != 1 else ''}"


def _too_large(message: str) -> ParseError:
    return ParseError(message, code=ParseErrorCode.TOO_LARGE)


# --- 1. before parsing: the ZIP directory ------------------------------------------------------


def check_package(members: Iterable[zipfile.ZipInfo]) -> None:
    """Refuse a ZIP package whose directory promises more than a document can plausibly hold."""
    members = list(members)
    max_entries = limit("DOCUMENT_MAX_ZIP_ENTRIES")
    if len(members) > max_entries:
        raise _too_large(
            f"This file is a package of {len(members):,} parts, more than the {max_entries:,} "
            f"a document may have. {SPLIT_ADVICE}"
        )
    max_part = limit("DOCUMENT_MAX_UNPACKED_PART_BYTES")
    for member in members:
        if PurePosixPath(member.filename).suffix.lower() not in TEXT_PART_SUFFIXES:
            continue
        if member.file_size > max_part:
            raise _too_large(
                f"Part {member.filename[:100]} of this file unpacks to {_mb(member.file_size)} "
                f"of text, more than the {_mb(max_part)} one part may hold (a small file "
                f"that unpacks to a huge one is how decompression bombs work). {SPLIT_ADVICE}"
            )
    total = sum(member.file_size for member in members)
    max_total = limit("DOCUMENT_MAX_UNPACKED_BYTES")
    if total > max_total:
        raise _too_large(
            f"This file unpacks to {_mb(total)}, more than the {_mb(max_total)} a document may "
            f"hold. {SPLIT_ADVICE}"
        )


# --- XML bombs in plain words --------------------------------------------------------------------

_ENTITY_BOMB = re.compile(
    r"entity reference loop|entity amplification|amplification factor|entities? .*(?:loop|"
    r"exceed)|entity .* recursion",
    re.IGNORECASE,
)
_TOO_DEEP = re.compile(
    r"excessive depth|huge text node|huge input lookup|XML_PARSE_HUGE|memory allocation failed",
    re.IGNORECASE,
)
ENTITY_BOMB_MESSAGE = (
    "This file contains XML entities that expand into each other without end (the trick known "
    "as a “billion laughs” attack), so it was not read. Open it in the application that made "
    "it, save it again, and upload the new copy."
)
TOO_DEEP_MESSAGE = (
    "This file contains XML nested too deeply or a single piece of text too large to read "
    "safely, so it was not read. Open it in the application that made it, save it again, and "
    "upload the new copy."
)


def _chain(error: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def plain_reason(error: ParseError) -> ParseError:
    """`error`, or one in plain words when libxml2's refusal or a lack of memory is behind it."""
    texts = [str(link) for link in _chain(error)]
    if any(isinstance(link, MemoryError) for link in _chain(error)):
        return _memory_error()
    if any(_ENTITY_BOMB.search(text) for text in texts):
        return ParseError(ENTITY_BOMB_MESSAGE, code=ParseErrorCode.CORRUPT)
    if any(_TOO_DEEP.search(text) for text in texts):
        return ParseError(TOO_DEEP_MESSAGE, code=ParseErrorCode.CORRUPT)
    return error


def _memory_error() -> ParseError:
    return _too_large(
        f"Reading this file needed more than {_mb(limit('PARSE_MAX_MEMORY_BYTES'))} of memory, "
        f"the most one document may use, so it was stopped. {SPLIT_ADVICE}"
    )


def _time_error() -> ParseError:
    return _too_large(
        f"Reading this file took longer than {_seconds(limit('PARSE_MAX_SECONDS'))}, the most "
        f"one document may take, so it was stopped. {SPLIT_ADVICE}"
    )


# --- 2. while parsing: a bounded child process ---------------------------------------------------

# Settings the parsers read; the child is a fresh process and gets them from the caller (which
# may have changed them, as tests do).
_SETTING_PREFIXES = ("OCR_", "DOCUMENT_", "PARSE_")


def _parse_settings() -> dict[str, Any]:
    if not settings.configured:
        return {}
    return {
        name: getattr(settings, name)
        for name in dir(settings)
        if name.isupper() and name.startswith(_SETTING_PREFIXES)
    }


def _can_fork() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


@functools.cache
def _context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    # The server imports Django and the parsers once; each parse forks from it in milliseconds.
    context.set_forkserver_preload(["documents.parsing.parse_server"])
    return context


def run_bounded(
    parser: str,
    path: Path,
    *,
    max_pages: int,
    progress: Callable[[str, float], None] | None = None,
) -> ParsedDocument:
    """`parsers()[parser].parse(path)`, within PARSE_MAX_MEMORY_BYTES and PARSE_MAX_SECONDS.

    The parser reports progress through documents.parsing.ocr.report_progress; the reports
    reach `progress` in this process. Raises ParseError (with a plain reason) and whatever
    `progress` raises; the child is gone when this returns.
    """
    from documents.parsing import ocr

    max_memory, max_seconds = limit("PARSE_MAX_MEMORY_BYTES"), limit("PARSE_MAX_SECONDS")
    if not (max_memory or max_seconds) or not _can_fork():
        with ocr.progress_reporting(progress):
            try:
                return _parse(parser, path, max_pages=max_pages)
            except ParseError as error:
                raise plain_reason(error) from error
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(  # type: ignore[attr-defined]
        target=_child_main,
        args=(parser, str(path), max_pages, _parse_settings(), sender, max_memory),
        name="docent-parse",
        daemon=True,
    )
    child.start()
    sender.close()
    try:
        return _await_result(child, receiver, progress=progress, max_seconds=max_seconds)
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()


def _parse(parser: str, path: Path, *, max_pages: int) -> ParsedDocument:
    from documents.parsing.registry import parsers

    return parsers()[parser].parse(path, max_pages=max_pages)


def _await_result(
    child: Any,
    receiver: Connection,
    *,
    progress: Callable[[str, float], None] | None,
    max_seconds: int,
) -> ParsedDocument:
    deadline = time.monotonic() + max_seconds if max_seconds else None
    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            logger.warning("parse child %s killed after %ss", child.pid, max_seconds)
            raise _time_error()
        wait = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - now)
        if receiver.poll(max(wait, 0.0)):
            try:
                kind, *payload = receiver.recv()
            except EOFError:
                break  # the child died without a word
            if kind == "progress":
                if progress is not None:
                    progress(payload[0], payload[1])
                continue
            if kind == "result":
                return payload[0]  # type: ignore[no-any-return]
            if kind == "parse_error":
                message, code, reason_code = payload
                if reason_code == "memory":
                    raise _memory_error()
                raise ParseError(message, code=ParseErrorCode(code))
            if kind == "crash":
                # A bug in a parser, not a property of the file: the worker log has the trace.
                logger.error("parser crashed in child %s:\n%s", child.pid, payload[0])
                raise RuntimeError(f"the parser crashed: {payload[1]}")
    child.join(timeout=5)
    code = child.exitcode
    logger.warning("parse child %s ended with exit code %s and no result", child.pid, code)
    if code == -signal.SIGKILL:
        raise _memory_error()  # nobody else here sends SIGKILL: the kernel's OOM killer did
    raise _crashed(code)


def _crashed(code: int | None) -> ParseError:
    how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    return ParseError(
        f"The reader stopped unexpectedly on this file ({how}); it is probably damaged. Open "
        "it in the application that made it, save it again, and upload the new copy.",
        code=ParseErrorCode.CORRUPT,
    )


def _child_main(
    parser: str,
    path: str,
    max_pages: int,
    overrides: dict[str, Any],
    sender: Connection,
    max_memory: int,
) -> None:
    from documents.parsing import ocr
    from documents.parsing.registry import parsers

    for name, value in overrides.items():
        setattr(settings, name, value)
    if overrides:
        parsers.cache_clear()
        ocr._engine.cache_clear()
    if max_memory:
        _limit_address_space(max_memory)

    def report(stage: str, fraction: float) -> None:
        sender.send(("progress", stage, fraction))

    try:
        with ocr.progress_reporting(report):
            result = _parse(parser, Path(path), max_pages=max_pages)
    except MemoryError:
        _send(sender, ("parse_error", "", ParseErrorCode.TOO_LARGE.value, "memory"))
    except ParseError as error:
        plain = plain_reason(error)
        memory = any(isinstance(link, MemoryError) for link in _chain(error))
        _send(sender, ("parse_error", str(plain), plain.code.value, "memory" if memory else ""))
    except BaseException as error:
        _send(sender, ("crash", traceback.format_exc(), f"{type(error).__name__}: {error}"))
    else:
        try:
            sender.send(("result", result))
        except MemoryError:
            _send(sender, ("parse_error", "", ParseErrorCode.TOO_LARGE.value, "memory"))
    finally:
        sender.close()


def _send(sender: Connection, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError, MemoryError):
        sender.send(message)


def _limit_address_space(extra: int) -> None:
    """Let the child map `extra` bytes beyond what it started with."""
    try:
        import resource

        import psutil

        current = psutil.Process(os.getpid()).memory_info().vms
        wanted = current + extra
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            wanted = min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    except (ImportError, OSError, ValueError) as error:  # not Linux/BSD, or not permitted
        logger.warning("could not limit the parser's memory: %s", error)

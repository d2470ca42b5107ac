"""Excel workbooks (openpyxl) and CSV files (stdlib csv), rendered so each value keeps its column.

A row under a header becomes "Region: North; Revenue: 1200", so a passage cut out of the middle
of a long table still says what its numbers are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from typing import TYPE_CHECKING, Any

import openpyxl

from documents.parsing.base import (
    FormatDeclaration,
    Markup,
    ParsedDocument,
    ParsedPage,
    Probe,
    check_page_count,
    corrupt,
    read_text,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

logger = logging.getLogger(__name__)

# The default limit (128 KiB per field) rejects real exports with long text cells; the whole
# file is in memory already, so a field cannot be larger than the file anyway.
csv.field_size_limit(2**31 - 1)

CSV_ROWS_PER_PAGE = 100
_NUMBER = re.compile(r"^[-+(]?[$€£¥]?\s*[\d.,' ]+%?\)?$")
_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b")


class TableRenderer:
    """Turns rows of cell strings into lines, finding the header row on the way.

    Report tables put titles and multi-row headers above the data, so the header is the last
    all-text row with several cells before the first row holding a number (looking at most
    LOOKAHEAD rows ahead); tables without numbers take their first row with several cells.
    """

    LOOKAHEAD = 10

    def __init__(self) -> None:
        self.header: list[str] | None = None
        self.pending: list[tuple[int, list[str]]] = []
        self.decided = False

    def feed(self, record: int, row: Iterable[str]) -> list[tuple[int, str, bool]]:
        """(record, line, is_data_row) for the rows that can be written out now."""
        cells = [" ".join(cell.split()) for cell in row]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            return []
        if self.decided:
            return [(record, self._line(cells), True)]
        self.pending.append((record, cells))
        if len(self.pending) >= self.LOOKAHEAD or any(map(_is_value, cells)):
            return self.finish()
        return []

    def finish(self) -> list[tuple[int, str, bool]]:
        if self.decided:
            return []
        self.decided = True
        rows = [cells for _, cells in self.pending]
        numeric = next((i for i, cells in enumerate(rows) if any(map(_is_value, cells))), None)
        wide = [i for i, cells in enumerate(rows[:numeric]) if sum(map(bool, cells)) > 1]
        chosen = (wide[-1] if numeric is not None else wide[0]) if wide else None
        if chosen is not None and _looks_like_header(rows[chosen]):
            self.header = rows[chosen]
        else:
            chosen = -1
        lines = [
            (record, self._line(cells) if index > chosen else _plain(cells), index > chosen)
            for index, (record, cells) in enumerate(self.pending)
        ]
        self.pending = []
        return lines

    def _line(self, cells: list[str]) -> str:
        if self.header is None:
            return _plain(cells)
        pairs = []
        for index, value in enumerate(cells):
            if value:
                name = self.header[index] if index < len(self.header) else ""
                pairs.append(f"{name or f'Column {index + 1}'}: {value}")
        return "; ".join(pairs)


def _plain(cells: list[str]) -> str:
    return " | ".join(cell for cell in cells if cell)


def _is_value(cell: str) -> bool:
    return bool(_NUMBER.match(cell) or _DATE.match(cell))


def _looks_like_header(cells: list[str]) -> bool:
    filled = [cell for cell in cells if cell]
    return len(set(filled)) == len(filled) and not any(
        _is_value(cell) or len(cell) > 200 for cell in filled
    )


def _sniff_workbook(probe: Probe) -> bool:
    return "xl/workbook.xml" in probe.members


XLSX = FormatDeclaration(
    name="Excel",
    extensions=(".xlsx", ".xlsm"),
    mime_types=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel.sheet.macroEnabled.12",
    ),
    container="zip",
    sniff=_sniff_workbook,
    office=True,
    no_text_message=(
        "This spreadsheet has no cells with values. Check that you chose the right file."
    ),
)


class XlsxParser:
    name = "xlsx"
    markup: Markup = "text"
    declaration = XLSX

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument:
        try:
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as error:  # openpyxl lets zipfile, lxml and descriptor errors through
            raise corrupt(f"the workbook could not be opened ({_reason(error)})") from error
        try:
            sheets = workbook.worksheets  # chartsheets have no cells and are not listed here
            check_page_count(len(sheets), max_pages=max_pages)
            pages = []
            for number, sheet in enumerate(sheets, start=1):
                try:
                    text = _sheet_text(sheet)
                except Exception as error:  # malformed sheet XML
                    reason = f"sheet {sheet.title!r} is unreadable ({_reason(error)})"
                    raise corrupt(reason) from error
                if text:
                    label = f"Sheet: {sheet.title}"
                    pages.append(ParsedPage(number=number, text=text, label=label))
        finally:
            workbook.close()
        return ParsedDocument(pages=pages, parser=self.name, markup=self.markup)


def _sheet_text(sheet: Any) -> str:
    # The stored dimension can claim a million empty rows; iterate only the cells that exist.
    sheet.reset_dimensions()
    renderer = TableRenderer()
    lines = []
    for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        lines += [line for _, line, _ in renderer.feed(number, map(format_value, row))]
    lines += [line for _, line, _ in renderer.finish()]
    return "\n".join(lines)


def format_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"  # hides binary noise such as 0.30000000000000004
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


# Only the name tells a CSV file from any other text.
CSV = FormatDeclaration(
    name="CSV",
    extensions=(".csv", ".tsv"),
    mime_types=("text/csv", "text/tab-separated-values"),
    container="text",
    no_text_message="This CSV file has no values in it. Check that you chose the right file.",
)


class CsvParser:
    name = "csv"
    markup: Markup = "text"
    declaration = CSV

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument:
        text = read_text(path)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
        renderer = TableRenderer()
        pages: list[ParsedPage] = []
        page: list[tuple[int, str]] = []
        data_rows = 0
        try:
            for record, row in enumerate(reader, start=1):
                for line_record, line, is_data in renderer.feed(record, row):
                    page.append((line_record, line))
                    data_rows += is_data
                    if data_rows == CSV_ROWS_PER_PAGE:
                        pages.append(_rows_page(len(pages) + 1, page))
                        check_page_count(len(pages), max_pages=max_pages)
                        page, data_rows = [], 0
        except csv.Error as error:
            raise corrupt(f"the CSV is malformed near row {reader.line_num} ({error})") from error
        page += [(record, line) for record, line, _ in renderer.finish()]
        if page:
            pages.append(_rows_page(len(pages) + 1, page))
        return ParsedDocument(pages=pages, parser=self.name, markup=self.markup)


def _rows_page(number: int, lines: list[tuple[int, str]]) -> ParsedPage:
    first, last = lines[0][0], lines[-1][0]
    label = f"Rows {first}\N{EN DASH}{last}" if first != last else f"Row {first}"
    return ParsedPage(number=number, text="\n".join(line for _, line in lines), label=label)


def _delimiter(text: str) -> str:
    sample = text[:65536]
    if len(sample) == len(text) or "\n" not in sample:
        lines = sample.splitlines()
    else:  # do not let the sniffer see a half line
        lines = sample[: sample.rindex("\n")].splitlines()
    try:
        return csv.Sniffer().sniff("\n".join(lines[:200]), delimiters=",;|\t").delimiter
    except csv.Error:
        return ","


def _reason(error: Exception) -> str:
    return str(error).strip()[:150] or type(error).__name__

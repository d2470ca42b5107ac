"""documents/parsing/spreadsheets.py: Excel sheets and CSV rows that keep their column names."""

from __future__ import annotations

from pathlib import Path

import pytest

from documents.parsing import (
    ParseErrorCode,
    parse_file,
)
from tests.documents.parsing.conftest import parse, parse_error


def test_xlsx_gives_one_page_per_worksheet_with_header_value_rows() -> None:
    document = parse("xlsx/stanley-cups.xlsx")

    assert [page.label for page in document.pages] == [
        "Sheet: Stanley Cups",
        "Sheet: Stanley Cups Since 67",
    ]
    assert document.pages[0].text.splitlines() == [
        "Stanley Cups",
        "Team | Location | Stanley Cups",
        "Team: Blues; Location: STL; Stanley Cups: 1",
        "Team: Flyers; Location: PHI; Stanley Cups: 2",
        "Team: Maple Leafs; Location: TOR; Stanley Cups: 13",
    ]


def test_xlsx_chartsheets_are_skipped() -> None:
    document = parse("xlsx/xlsx_03_chartsheet.xlsx")

    assert [page.label for page in document.pages] == ["Sheet: Duck Observations"]
    assert "Year: 2019; Freshwater Ducks: 120; Saltwater Ducks: 80" in document.pages[0].text


def test_xlsx_title_row_above_the_header_is_kept_as_a_line() -> None:
    lines = parse("xlsx/xlsx_05_table_with_title.xlsx").pages[0].text.splitlines()

    assert lines[:3] == [
        "Number of freshwater ducks per year",
        "Year | Freshwater Ducks",
        "Year: 2019; Freshwater Ducks: 120",
    ]


@pytest.mark.parametrize(
    ("relative", "first_row"),
    [
        ("csv/stanley-cups.csv", "Team: Blues; Location: STL; Stanley Cups: 1"),
        ("csv/stanley-cups.tsv", "Team: Blues; Location: STL; Stanley Cups: 1"),
        ("csv/stanley-cups-utf-16.csv", "Team: Blues; Location: STL; Stanley Cups: 1"),
        (
            "csv/semicolon-delimited.csv",
            "Lorem, ipsum: consectetur; dolor sit: adipiscing; amet: elit",
        ),
    ],
)
def test_csv_rows_become_header_value_lines_whatever_the_delimiter_and_encoding(
    relative: str, first_row: str
) -> None:
    document = parse(relative)

    assert first_row in document.pages[0].text.splitlines()
    assert document.pages[0].label == "Rows 1–5"  # noqa: RUF001


def test_csv_with_ragged_rows_keeps_every_row() -> None:
    lines = parse("csv/csv-too-few-columns.csv").pages[0].text.splitlines()

    assert lines == [
        "1 | 2 | 3 | 4",
        "a | 'b' | c | d",
        "a | b | c",
        "a | b | c | d",
        "a | b | c | d",
    ]


def test_csv_with_very_long_lines_parses() -> None:
    document = parse("csv/csv-with-long-lines.csv")

    assert len(document.pages[0].text) > 100_000


def test_long_csv_is_paged_by_hundred_rows_with_row_labels(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    rows = ["order,customer,total"] + [f"{n},Customer {n},{n * 3}.50" for n in range(1, 251)]
    path.write_text("\n".join(rows), encoding="utf-8")

    document = parse_file(path, filename="orders.csv")

    labels = [page.label for page in document.pages]
    assert labels == ["Rows 1–101", "Rows 102–201", "Rows 202–251"]  # noqa: RUF001
    assert document.pages[1].text.splitlines()[0] == (
        "order: 101; customer: Customer 101; total: 303.50"
    )


def test_empty_workbook_has_no_text() -> None:
    error = parse_error("xlsx/empty.xlsx")

    assert error.code == ParseErrorCode.NO_TEXT
    assert "spreadsheet has no cells with values" in str(error)

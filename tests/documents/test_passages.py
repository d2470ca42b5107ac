from __future__ import annotations

from documents.chunking import layout_pages
from documents.passages import PageMap, PassageLocation, fold, locate_passage

PAGES = layout_pages(
    [
        "Employees book flights through the travel desk.\nEconomy class is the default.",
        "Meal expenses are reimbursed up to 45 euros per day.\nReceipts are due in 30 days.",
        "Every new employee receives a laptop on the first working day.",
    ]
)
DOCUMENT = "\n\n".join(page.text for page in PAGES)


def test_passage_on_one_page_is_located_in_document_coordinates() -> None:
    where = locate_passage(PAGES, "Meal expenses are reimbursed up to 45 euros per day.")

    assert where is not None
    assert (where.page_start, where.page_end) == (2, 2)
    assert DOCUMENT[where.char_start : where.char_end] == (
        "Meal expenses are reimbursed up to 45 euros per day"
    )


def test_answer_is_a_plain_tuple() -> None:
    where = locate_passage(PAGES, "a laptop")

    assert isinstance(where, tuple)
    page_start, page_end, char_start, char_end = where
    assert (page_start, page_end) == (3, 3)
    assert DOCUMENT[char_start:char_end] == "a laptop"


def test_passage_across_a_page_break_spans_both_pages() -> None:
    where = locate_passage(PAGES, "default. Meal expenses")

    assert where == PassageLocation(
        page_start=1,
        page_end=2,
        char_start=DOCUMENT.index("default"),
        char_end=DOCUMENT.index("Meal") + len("Meal expenses"),
    )


def test_whitespace_case_hyphenation_and_quotes_do_not_matter() -> None:
    remote = "EMPLOYEES   book flights through the tra-\nvel desk. “Economy” class"

    where = locate_passage(PAGES, remote)

    assert where is not None
    assert (where.page_start, where.page_end) == (1, 1)
    assert DOCUMENT[where.char_start : where.char_end].endswith("Economy class")


def test_ligatures_and_accents_fold_to_plain_letters() -> None:
    pages = layout_pages(["Intro.", "The cafe\u0301 runs an e\ufb03cient kitchen."])

    where = locate_passage(pages, "café runs an efficient kitchen")

    assert where is not None
    assert (where.page_start, where.page_end) == (2, 2)
    text = pages[1].text
    offset = pages[1].char_start
    assert text[where.char_start - offset : where.char_end - offset] == (
        "cafe\u0301 runs an e\ufb03cient kitchen"
    )


def test_passage_read_differently_in_the_middle_is_found_by_its_ends() -> None:
    words = [f"word{i}" for i in range(200)]
    pages = layout_pages([" ".join(words[:100]), " ".join(words[100:])])
    document = "\n\n".join(page.text for page in pages)
    # The remote extractor read a table in the middle as something else.
    remote = " ".join(words[40:90]) + " | a | b | " + " ".join(words[95:160])

    where = locate_passage(pages, remote)

    assert where is not None
    assert (where.page_start, where.page_end) == (1, 2)
    assert document[where.char_start : where.char_end].startswith("word40 ")
    assert document[where.char_start : where.char_end].endswith(" word159")


def test_passage_whose_start_differs_is_found_by_its_end() -> None:
    words = [f"term{i}" for i in range(120)]
    pages = layout_pages([" ".join(words)])
    remote = "A running header that the page map does not have. " + " ".join(words[10:110])

    where = locate_passage(pages, remote)

    assert where is not None
    assert pages[0].text[: where.char_end].endswith("term109")


def test_unknown_or_empty_passages_are_not_located() -> None:
    assert locate_passage(PAGES, "The office is closed on public holidays.") is None
    assert locate_passage(PAGES, " \n ... ") is None
    assert locate_passage([], "anything") is None


def test_first_occurrence_wins_and_a_page_map_is_reusable() -> None:
    pages = layout_pages(["Safety first.", "Safety first, again."])
    page_map = PageMap(pages)

    assert page_map.locate("safety first") == PassageLocation(1, 1, 0, len("Safety first"))
    again = page_map.locate("first again")
    assert again is not None
    assert (again.page_start, again.page_end) == (2, 2)


def test_fold_keeps_letters_and_digits_only() -> None:
    assert fold("Straße, 4.5 km — naïve!") == "strasse45kmnaive"

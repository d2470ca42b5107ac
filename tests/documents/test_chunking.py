from __future__ import annotations

import itertools

import pytest

from documents.backends.embeddings import bundled_tokenizer
from documents.chunking import PAGE_SEPARATOR, PageText, chunk_pages, layout_pages
from documents.sections import MAX_CONTEXT_CHARS, Heading, document_title, heading_paths

PARAGRAPH = (
    "The quarterly revenue of the northern division grew by twelve percent, driven by "
    "strong demand for industrial pumps and a recovery in spare-parts orders. "
)


@pytest.fixture(scope="module")
def tokenizer():
    return bundled_tokenizer()


def tokens(tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def document_text(texts: list[str]) -> str:
    return PAGE_SEPARATOR.join(texts)


def test_no_chunk_exceeds_the_token_budget(tokenizer):
    texts = ["\n\n".join(PARAGRAPH * 3 for _ in range(20))]
    chunks = chunk_pages(
        layout_pages(texts), tokenizer=tokenizer, max_tokens=120, overlap_tokens=20
    )
    assert len(chunks) > 5
    assert all(tokens(tokenizer, c.text) <= 120 for c in chunks)
    assert all(c.token_count == tokens(tokenizer, c.text) for c in chunks)


def test_offsets_point_at_the_chunk_text_in_the_document(tokenizer):
    texts = ["Short first page.", "\n\n".join(PARAGRAPH * 2 for _ in range(15)), "Last page."]
    full = document_text(texts)
    chunks = chunk_pages(
        layout_pages(texts), tokenizer=tokenizer, max_tokens=100, overlap_tokens=10
    )
    for chunk in chunks:
        assert full[chunk.char_start : chunk.char_end] == chunk.text


def test_long_page_chunks_overlap(tokenizer):
    sentences = " ".join(f"Sentence number {i} talks about topic {i * 7}." for i in range(200))
    chunks = chunk_pages(
        layout_pages([sentences]), tokenizer=tokenizer, max_tokens=80, overlap_tokens=20
    )
    assert len(chunks) > 3
    for first, second in itertools.pairwise(chunks):
        assert second.char_start < first.char_end, "consecutive chunks should share text"


def test_short_pages_are_packed_and_keep_their_page_range(tokenizer):
    texts = [f"Slide {n}: revenue was {n} million." for n in range(1, 7)]
    chunks = chunk_pages(layout_pages(texts), tokenizer=tokenizer, max_tokens=40, overlap_tokens=0)
    assert len(chunks) >= 2
    assert chunks[0].page_start == 1
    assert chunks[0].page_end > 1
    assert chunks[-1].page_end == 6
    covered = [p for c in chunks for p in range(c.page_start, c.page_end + 1)]
    assert covered == list(range(1, 7))


def test_long_page_is_split_without_crossing_into_other_pages(tokenizer):
    texts = ["Cover.", "\n\n".join(PARAGRAPH for _ in range(40)), "Appendix."]
    chunks = chunk_pages(
        layout_pages(texts), tokenizer=tokenizer, max_tokens=100, overlap_tokens=10
    )
    middle = [c for c in chunks if c.page_start == 2]
    assert len(middle) > 3
    assert all(c.page_end == 2 for c in middle)


def test_empty_pages_are_skipped_but_numbering_is_kept(tokenizer):
    texts = ["", "Only the second page has text.", "   "]
    chunks = chunk_pages(layout_pages(texts), tokenizer=tokenizer, max_tokens=50, overlap_tokens=0)
    assert [(c.page_start, c.page_end) for c in chunks] == [(2, 2)]
    assert chunks[0].text == "Only the second page has text."


def test_markdown_chunks_start_at_headings(tokenizer):
    sections = [
        f"# Section {n}\n\n" + "\n\n".join(f"Point {n}.{i}: {PARAGRAPH}" for i in range(3))
        for n in range(1, 6)
    ]
    text = "\n\n".join(sections)
    chunks = chunk_pages(
        layout_pages([text]), tokenizer=tokenizer, max_tokens=150, overlap_tokens=0, markdown=True
    )
    headed = [c for c in chunks if "# Section" in c.text]
    assert headed
    assert all(c.text.lstrip().startswith("# Section") for c in headed)


def test_paragraph_boundaries_are_preferred_over_mid_sentence_cuts(tokenizer):
    paragraphs = [f"Paragraph {i}. " + PARAGRAPH for i in range(12)]
    chunks = chunk_pages(
        layout_pages(["\n\n".join(paragraphs)]),
        tokenizer=tokenizer,
        max_tokens=100,
        overlap_tokens=0,
    )
    assert all(c.text.startswith("Paragraph") for c in chunks)


@pytest.mark.parametrize(("max_tokens", "overlap"), [(8, 0), (100, 60), (100, -1)])
def test_invalid_budgets_are_refused(tokenizer, max_tokens, overlap):
    with pytest.raises(ValueError, match="must be"):
        chunk_pages(
            layout_pages(["text"]),
            tokenizer=tokenizer,
            max_tokens=max_tokens,
            overlap_tokens=overlap,
        )


MANUAL = """# Guide

Intro paragraph.

## Install

```bash
# not a heading: a comment in a code block
pip install hatch
```

### Linux

Use the package manager.

## Configure

Edit the file.
"""

RST = """=====
Guide
=====

Intro paragraph.

Install
=======

Use pip.

Linux
-----

Use the package manager.

Configure
=========

Edit the file.
"""


def contexts_by_text(tokenizer, text: str, **options) -> dict[str, str]:
    # Tiny chunks so that every section starts a chunk of its own.
    chunks = chunk_pages(
        layout_pages([text]), tokenizer=tokenizer, max_tokens=16, overlap_tokens=0, **options
    )
    return {chunk.text: chunk.context for chunk in chunks}


def context_of(contexts: dict[str, str], needle: str) -> str:
    return next(context for text, context in contexts.items() if needle in text)


def test_markdown_chunks_carry_their_heading_path_and_keep_their_own_text(tokenizer):
    contexts = contexts_by_text(tokenizer, MANUAL, markdown=True)
    assert context_of(contexts, "Intro paragraph") == "Guide"
    assert context_of(contexts, "package manager") == "Guide > Install > Linux"
    assert context_of(contexts, "Edit the file") == "Guide > Configure"
    assert all("Guide >" not in text for text in contexts)


def test_a_hash_line_in_a_code_block_is_not_a_heading(tokenizer):
    contexts = contexts_by_text(tokenizer, MANUAL, markdown=True)
    assert all("not a heading" not in context for context in contexts.values())


def test_rst_titles_are_headings_in_the_order_their_styles_appear(tokenizer):
    contexts = contexts_by_text(tokenizer, RST, rst=True)
    assert context_of(contexts, "Use pip") == "Guide > Install"
    assert context_of(contexts, "package manager") == "Guide > Install > Linux"
    assert context_of(contexts, "Edit the file") == "Guide > Configure"


def test_plain_text_has_no_heading_context(tokenizer):
    contexts = contexts_by_text(tokenizer, MANUAL)
    assert set(contexts.values()) == {""}


def test_a_sheet_name_is_context_but_a_slide_number_is_not(tokenizer):
    # Each page nearly fills the budget, so no two are packed into one chunk.
    sheet, slide = "Revenue of the northern division grew by twelve percent", "Agenda " * 12
    pages = [
        PageText(number=1, text=sheet, char_start=0, label="Sheet: Q3 revenue"),
        PageText(number=2, text=slide, char_start=len(sheet) + 2, label="Slide 2"),
    ]
    chunks = chunk_pages(pages, tokenizer=tokenizer, max_tokens=16, overlap_tokens=0)
    assert [chunk.context for chunk in chunks] == ["Q3 revenue", ""]


def test_long_heading_paths_keep_their_nearest_headings():
    headings = [Heading(offset=i, level=i + 1, title=f"Section {i} " + "x" * 40) for i in range(6)]
    (path,) = heading_paths(headings, [100])
    assert len(path) <= MAX_CONTEXT_CHARS
    assert path.endswith("Section 5 " + "x" * 40)


# --- structure-aware boundaries and context ---------------------------------------------------

RST_BLOCKS = """Configuration
=============

To load the settings, call the loader with the path of the file::

    from app import settings
    settings.load("app.toml")

    print(settings.current)

worker_concurrency
    The number of worker processes that run tasks at the same time on this machine.

    Defaults to the number of CPUs.

Logging
=======

Logs go to standard error unless a file is configured in the logging section.
"""


def rst_chunks(tokenizer, max_tokens: int):
    return chunk_pages(
        layout_pages([RST_BLOCKS]),
        tokenizer=tokenizer,
        max_tokens=max_tokens,
        overlap_tokens=0,
        rst=True,
    )


def test_an_rst_literal_block_stays_with_the_paragraph_that_introduces_it(tokenizer):
    chunks = rst_chunks(tokenizer, max_tokens=48)
    (intro,) = [c for c in chunks if "call the loader" in c.text]
    assert "settings.load" in intro.text
    assert "print(settings.current)" in intro.text


def test_an_rst_definition_keeps_its_term_and_whole_body(tokenizer):
    chunks = rst_chunks(tokenizer, max_tokens=48)
    (definition,) = [c for c in chunks if "worker processes" in c.text]
    assert definition.text.startswith("worker_concurrency")
    assert "Defaults to the number of CPUs." in definition.text


def test_an_rst_section_that_does_not_fit_starts_a_chunk_of_its_own(tokenizer):
    # Room for the second section after the first one's end, but not for both sections whole.
    chunks = rst_chunks(tokenizer, max_tokens=60)
    (logging,) = [c for c in chunks if "standard error" in c.text]
    assert logging.text.startswith("Logging\n=======")
    assert logging.context == "Logging"


def test_rst_chunks_still_point_at_their_text_in_the_document(tokenizer):
    for chunk in rst_chunks(tokenizer, max_tokens=24):
        assert RST_BLOCKS[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.token_count <= 24


TABLE = "# Options\n\n| Name | Default | Meaning |\n|---|:---:|---|\n" + "\n".join(
    f"| option_{i} | {i} | what option {i} changes in the build of the project |" for i in range(12)
)


def test_a_chunk_that_starts_among_table_rows_names_the_columns(tokenizer):
    chunks = chunk_pages(
        layout_pages([TABLE]), tokenizer=tokenizer, max_tokens=60, overlap_tokens=0, markdown=True
    )
    later = [c for c in chunks if c.text.startswith("| option_") and "option_0 " not in c.text]
    assert later, "the table should span several chunks"
    for chunk in later:
        assert chunk.context == "Options\nName | Default | Meaning"
        assert "Name | Default" not in chunk.text  # citations quote the rows alone
    (first,) = [c for c in chunks if "option_0 " in c.text]
    assert first.context == "Options"  # its own text holds the header row


def test_the_file_name_leads_the_context_unless_the_document_opens_with_a_heading(tokenizer):
    def contexts(title: str) -> set[str]:
        chunks = chunk_pages(
            layout_pages([MANUAL]),
            tokenizer=tokenizer,
            max_tokens=16,
            overlap_tokens=0,
            markdown=True,
            title=title,
        )
        return {c.context for c in chunks}

    assert "Guide > Install > Linux" in contexts("Hatch manual")  # "# Guide" names it
    untitled = "Some words first.\n\n" + MANUAL
    chunks = chunk_pages(
        layout_pages([untitled]),
        tokenizer=tokenizer,
        max_tokens=16,
        overlap_tokens=0,
        markdown=True,
        title="Hatch manual",
    )
    assert "Hatch manual > Guide > Install > Linux" in {c.context for c in chunks}
    plain = chunk_pages(
        layout_pages(["Net sales grew by eight percent."]),
        tokenizer=tokenizer,
        max_tokens=16,
        overlap_tokens=0,
        title="2022 Q3 AAPL",
    )
    assert [c.context for c in plain] == ["2022 Q3 AAPL"]


def test_a_file_name_reads_as_a_title():
    assert document_title("2022_Q3_AAPL.pdf") == "2022 Q3 AAPL"
    assert document_title("how-to_env-select.md") == "how to env select"
    assert document_title("README") == "README"
    assert document_title("4983.txt") == ""  # a number names nothing


REPORT_PAGES = [
    """Northwind Traders
TABLE OF CONTENTS
Item 1. Financial Statements 3
Item 2. Management's Discussion and Analysis 9
Northwind Traders | Quarterly report | 1""",
    """Northwind Traders
PART I — FINANCIAL INFORMATION
Item 2. Management's Discussion and Analysis
Three Months Ended Nine Months Ended
Net sales 1,204 1,150 3,610 3,402
Gross margin 402 388 1,190 1,101
Liquidity and Capital Resources
The company held 2,310 million in cash and marketable securities at the end of the quarter,
enough to fund its operations and the announced buyback programme for the next twelve months.
Northwind Traders | Quarterly report | 2""",
    """Northwind Traders
Three Months Ended Nine Months Ended
Services 310 290 905 870
Critical Accounting Estimates
Estimates of inventory reserves rely on expected demand, which was revised in the quarter.
Northwind Traders | Quarterly report | 3""",
]


def test_plain_text_takes_the_headings_a_reader_sees(tokenizer):
    from documents.sections import plain_headings, repeated_lines

    repeated = repeated_lines(REPORT_PAGES)
    titles = [h.title for page in REPORT_PAGES for h in plain_headings(page, repeated=repeated)]
    assert titles == [
        "TABLE OF CONTENTS",
        "PART I — FINANCIAL INFORMATION",
        "Item 2. Management's Discussion and Analysis",
        "Liquidity and Capital Resources",
        "Critical Accounting Estimates",
    ]  # not the running header, the column headings, table rows or contents lines


def test_a_pdf_chunk_carries_the_section_it_sits_in(tokenizer):
    chunks = chunk_pages(
        layout_pages(REPORT_PAGES),
        tokenizer=tokenizer,
        max_tokens=40,
        overlap_tokens=0,
        plain=True,
        title="Northwind Q3",
    )
    cash = next(c for c in chunks if "2,310 million" in c.text)
    assert cash.context.endswith(
        "PART I — FINANCIAL INFORMATION > Item 2. Management's Discussion and Analysis"
        " > Liquidity and Capital Resources"
    )
    assert cash.context.startswith(("Northwind Q3 >", "\N{HORIZONTAL ELLIPSIS}"))
    reserves = next(c for c in chunks if "inventory reserves" in c.text)
    assert reserves.context.endswith(
        "Item 2. Management's Discussion and Analysis > Critical Accounting Estimates"
    )


def test_a_plain_text_document_is_titled_by_a_first_line_that_stands_alone(tokenizer):
    body = " ".join(f"Sentence {i} of the abstract describes a measured effect." for i in range(40))
    text = "Microglial activation in early white matter injury\n\n" + body
    chunks = chunk_pages(
        layout_pages([text]), tokenizer=tokenizer, max_tokens=60, overlap_tokens=0, plain=True
    )
    assert len(chunks) > 2
    assert {c.context for c in chunks} == {"Microglial activation in early white matter injury"}
    sentence = "The first line of this note is a sentence.\n\n" + body
    chunks = chunk_pages(
        layout_pages([sentence]), tokenizer=tokenizer, max_tokens=60, overlap_tokens=0, plain=True
    )
    assert {c.context for c in chunks} == {""}

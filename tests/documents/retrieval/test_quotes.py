"""What an extractive answer quotes: whole sentences, rows and items, once, without
table-of-contents leaders, and not what the previous answer already quoted."""

from __future__ import annotations

import re

import pytest

from documents import services
from documents.retrieval import best_quotes, corpus_search
from tests.documents.conftest import ingest, upload_text

pytestmark = pytest.mark.django_db

# Long sentences and small chunks: chunk boundaries fall inside sentences.
POLICY = """# Travel

Employees who travel abroad for more than three consecutive days are entitled to a daily meal \
allowance of forty-five euros, which is paid with the next salary after the receipts are approved.
Hotel rooms are booked through the travel desk, which negotiates rates with a small number of \
chains in every city where the company has an office or a frequent customer.
Train travel is preferred over flights for every journey that takes less than four hours door to \
door, because it is cheaper, produces less carbon dioxide and lets people work on the way.
"""

ALLOWANCES = """# Daily allowances

Allowances depend on the country of the trip.

| Country | Daily allowance | Hotel limit |
|---|---|---|
| Germany | 28 EUR | 120 EUR |
| France | 35 EUR | 150 EUR |
| Japan | 52 EUR | 180 EUR |

Amounts are reviewed every January.
"""

CONTENTS = """# Contents

Introduction .................... 3
Travel rules .................... 5
Expenses ........................ 9

# Introduction

This handbook explains the rules for travel and expenses that apply to every employee.
"""


@pytest.fixture
def small_chunks(db):
    return services.corpus_create(
        name="Small", slug="small", chunk_size_tokens=40, chunk_overlap_tokens=0
    )


def quotes_for(corpus, question, **kwargs):
    hits = corpus_search(corpus=corpus, query=question, k=4)
    return best_quotes(corpus, question, hits, **kwargs)


def test_quotes_are_whole_sentences_though_chunks_cut_them(small_chunks):
    document = ingest(upload_text(small_chunks, POLICY, "policy.md"))
    assert document.chunk_count > 3  # the sentences are cut
    sentences = {line for line in POLICY.replace("\\\n", "").splitlines() if line.endswith(".")}
    joined = POLICY.replace("\\\n", "")

    quotes = quotes_for(small_chunks, "How much is the daily meal allowance abroad?")

    assert quotes
    for quote in quotes:
        assert quote.text in {" ".join(s.split()) for s in sentences} or quote.text in joined
        assert quote.text[0].isupper()
        assert quote.text.endswith(".")
    assert "forty-five euros" in quotes[0].text
    # The highlight covers the quoted sentence in the document's own text.
    page_text = document.pages.get(number=quotes[0].page).text
    start = quotes[0].char_start - document.pages.get(number=quotes[0].page).char_start
    assert page_text[start : start + len(quotes[0].text)] == quotes[0].text


def test_a_table_row_is_quoted_whole_and_found_through_its_header(corpus):
    ingest(upload_text(corpus, ALLOWANCES, "allowances.md"))

    quotes = quotes_for(corpus, "What is the hotel limit in Japan?")

    assert quotes[0].text == "| Japan | 52 EUR | 180 EUR |"
    assert all(not q.text.startswith("| Country") for q in quotes)
    assert all(not re.match(r"^\|?\s*-{2,}", q.text) for q in quotes)


def test_the_same_sentence_in_two_documents_is_quoted_once(corpus):
    ingest(upload_text(corpus, POLICY, "policy.md"))
    ingest(upload_text(corpus, POLICY + "\nCopies of this policy are kept by HR.\n", "copy.md"))

    quotes = quotes_for(corpus, "How much is the daily meal allowance abroad?", limit=4)

    texts = [" ".join(q.text.split()) for q in quotes]
    assert len(texts) == len(set(texts))


def test_table_of_contents_lines_are_never_quoted(corpus):
    ingest(upload_text(corpus, CONTENTS, "handbook.md"))

    quotes = quotes_for(corpus, "What does the introduction of the handbook explain?")

    assert quotes
    assert all("...." not in q.text for q in quotes)
    assert quotes[0].text.startswith("This handbook explains")


def test_a_follow_up_leaves_out_what_the_previous_answer_quoted(corpus):
    ingest(upload_text(corpus, POLICY, "policy.md"))
    first = quotes_for(corpus, "How much is the daily meal allowance abroad?", limit=1)
    previous_answer = f"**From the documents**:\n\n- “{first[0].text}” [1]"

    again = quotes_for(
        corpus, "How much is the daily meal allowance abroad?", exclude=[previous_answer]
    )

    assert again
    assert first[0].text not in [q.text for q in again]

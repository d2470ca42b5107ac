from __future__ import annotations

import pytest

from chat.strategies.base import Turn
from chat.strategies.local_rag import heuristic_query
from documents.retrieval import split_sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One thing. Another thing.", ["One thing.", "Another thing."]),
        # A PDF line break inside a sentence does not end it.
        ("the text and\nsome more words. Next.", ["the text and\nsome more words.", "Next."]),
        # Spreadsheet rows, list items and headings are lines of their own.
        (
            "Name: Ann; City: Oslo\nName: Bo; City: Rome",
            ["Name: Ann; City: Oslo", "Name: Bo; City: Rome"],
        ),
        ("# Leave\n- thirty days\n- carried over", ["Leave", "thirty days", "carried over"]),
        (
            "Version 2.5 is out. It costs 3.50 euros.",
            ["Version 2.5 is out.", "It costs 3.50 euros."],
        ),
    ],
)
def test_sentences_keep_their_offsets(text, sentences):
    pieces = split_sentences(text)
    assert [sentence for sentence, _ in pieces] == sentences
    for sentence, offset in pieces:
        assert text[offset : offset + len(sentence)] == sentence


def test_a_short_follow_up_is_searched_with_the_previous_question():
    history = (Turn(question="What is the meal allowance abroad?", answer="45 euros."),)
    assert (
        heuristic_query("And receipts?", history)
        == "What is the meal allowance abroad? And receipts?"
    )
    assert heuristic_query("How many days of paid leave do employees get per year?", history) == (
        "How many days of paid leave do employees get per year?"
    )
    assert heuristic_query("And receipts?", ()) == "And receipts?"

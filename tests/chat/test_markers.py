from __future__ import annotations

import pytest

from chat.strategies.markers import CitationMarkerStream


def stream(deltas: list[str], valid: set[int]) -> tuple[str, list[int]]:
    markers = CitationMarkerStream(valid=valid)
    text = "".join(markers.feed(delta) for delta in deltas) + markers.flush()
    return text, markers.used


def test_markers_are_renumbered_in_order_of_first_use():
    text, used = stream(["Fees rise [4]. Dates move [2]; fees again [4]."], {1, 2, 3, 4})
    assert text == "Fees rise [1]. Dates move [2]; fees again [1]."
    assert used == [4, 2]


def test_a_marker_split_across_deltas_is_held_back_until_complete():
    markers = CitationMarkerStream(valid={1, 2, 3})
    assert markers.feed("It is 45 euros [") == "It is 45 euros "
    assert markers.feed("3") == ""
    assert markers.feed("] per day.") == "[1] per day."


def test_invented_citations_are_dropped():
    text, used = stream(["True [2] and made up [9]."], {1, 2})
    assert text == "True [1] and made up."
    assert used == [2]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("A [1, 3].", "A [1][2]."), ("A [1][3].", "A [1][2]."), ("A [3; 3].", "A [1].")],
)
def test_grouped_markers_become_separate_markers(raw, expected):
    assert stream([raw], {1, 2, 3})[0] == expected


def test_brackets_that_are_not_markers_pass_through():
    text, used = stream(["See [the handbook](http://x) and [a] [", "b]."], {1})
    assert text == "See [the handbook](http://x) and [a] [b]."
    assert used == []


def test_unfinished_marker_at_the_end_is_flushed_as_text():
    text, _ = stream(["Costs [1"], {1})
    assert text == "Costs [1"

"""documents/parsing/slides.py: one page per PowerPoint slide."""

from __future__ import annotations

from tests.documents.parsing.conftest import parse


def test_pptx_gives_one_labelled_page_per_slide_with_title_and_notes() -> None:
    document = parse("pptx/powerpoint_sample.pptx")

    assert [page.label for page in document.pages] == ["Slide 1", "Slide 2", "Slide 3"]
    second = document.pages[1].text
    assert second.startswith("# Second slide title")
    assert "A rectangle shape with this text inside." in second
    assert second.endswith("Notes:\nSome notes on the second slide.")


def test_pptx_reads_text_inside_nested_group_shapes() -> None:
    text = parse("pptx/group-shapes-nested.pptx").pages[0].text

    assert set(text.split()) == set("ABCDEFGHIJ")


def test_pptx_slide_with_unsupported_chart_type_keeps_its_other_text_and_warns() -> None:
    document = parse("pptx/pptx_chart.pptx")

    assert document.warnings == [
        "Some content could not be read and is not searchable: slide 2, a chart (bar3DChart) "
        "named 'Chart 2'."
    ]
    assert "Chart: Wild Duck Observations by Year" in document.pages[0].text
    assert document.pages[1].text.startswith("# Quarterly revenue")

"""documents/parsing/ebooks.py: EPUB spine documents as labelled pages."""

from __future__ import annotations

from tests.documents.parsing.conftest import parse


def test_epub_pages_follow_the_spine_labelled_with_chapter_headings() -> None:
    document = parse("epub/winter-sports.epub")

    assert document.markup == "markdown"
    assert [page.label for page in document.pages] == [
        "The Project Gutenberg eBook of Winter Sports in Switzerland , by E. F. Benson",
        "CHAPTER II RINKS AND SKATERS",
        "THIRD-CLASS TEST",
        "Compulsory Figures",
        "CHAPTER IV TOBOGGANING",
        "CHAPTER V ICE-HOCKEY",
        "Jumping",
        "CHAPTER VIII FOR PARENTS AND GUARDIANS",
        "THE FULL PROJECT GUTENBERG LICENSE",
    ]
    assert document.pages[-1].text.startswith("*** END OF THE PROJECT GUTENBERG EBOOK")


def test_epub_chapter_without_heading_or_title_is_labelled_by_position() -> None:
    assert parse("epub/eng_spa_mult.epub").pages[0].label == "Section 1"

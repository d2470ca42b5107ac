"""Helpers for the parsing tests: real documents in tests/fixtures/docs (see its README and
MANIFEST) read through `parse_file`. Only test_registry.py's upload test uses the database."""

from __future__ import annotations

import pytest

from documents.parsing import ParsedDocument, ParseError, parse_file
from tests.conftest import FIXTURE_DOCS

FIXTURES = FIXTURE_DOCS


def parse(relative: str, **kwargs: int) -> ParsedDocument:
    path = FIXTURES / relative
    return parse_file(path, filename=path.name, **kwargs)


def parse_error(relative: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(relative)
    return caught.value


def fixture_files() -> list[str]:
    return sorted(
        str(path.relative_to(FIXTURES))
        for path in FIXTURES.rglob("*")
        if path.is_file()
        and path.parent.name != "LICENSES"
        and path.name not in ("MANIFEST.tsv", "README.md")
    )

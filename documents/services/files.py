"""Originals on the storage backend: checksums, a local path for parsers, deletion."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from documents.models import Document


@contextlib.contextmanager
def upload_path(file: IO[bytes], *, suffix: str = "") -> Iterator[Path]:
    """A path on local disk for a file being uploaded: Django's temporary file for a large
    upload, else a copy."""
    if hasattr(file, "temporary_file_path"):
        file.seek(0)
        yield Path(file.temporary_file_path())
        return
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        file.seek(0)
        while block := file.read(1024 * 1024):
            handle.write(block)
        handle.flush()
        yield Path(handle.name)
    file.seek(0)


def sha256_of(file: IO[bytes]) -> tuple[str, int]:
    """(hex digest, size in bytes) of the whole file."""
    digest = hashlib.sha256()
    size = 0
    file.seek(0)
    while block := file.read(1024 * 1024):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


@contextlib.contextmanager
def local_copy(document: Document) -> Iterator[Path]:
    """A path on local disk for the original, whatever the storage backend."""
    try:
        yield Path(document.file.path)
        return
    except NotImplementedError:
        pass
    suffix = Path(document.filename).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle, document.file.open("rb") as src:
        while block := src.read(1024 * 1024):
            handle.write(block)
        handle.flush()
        yield Path(handle.name)


def delete_files(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        default_storage.delete(name)

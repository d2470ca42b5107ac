"""Text handling for the fake: extraction, OpenAI-like chunking, tokens and sentences."""

from __future__ import annotations

import io
import math
import re
from pathlib import PurePosixPath


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# https://platform.openai.com/docs/assistants/tools/file-search#supported-files
SUPPORTED_EXTENSIONS = _words(
    ".c .cpp .cs .css .doc .docx .go .html .java .js .json .md .pdf .php .pptx .py .rb .sh"
    " .tex .ts .txt"
)

# The static default every vector store file reports on the wire.
DEFAULT_CHUNKING = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
}

# A whitespace word is about 1.3 tokens for English text.
TOKENS_PER_WORD = 1.3

STOPWORDS = _words(
    """a about above after again all also am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me
    more most my myself no nor not now of off on once only or other our ours out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself tell give please know say said s t don let us much many
    does one ones thing things"""
)

# Words that describe the retrieval itself rather than the thing asked about.
BOILERPLATE = _words(
    """file files document documents doc docs using use tool tools search searching available
    provided according source sources information info based attached upload uploaded"""
)

PRONOUNS = _words("it its it's that this they them their those these he him his she her there")

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class ExtractionError(Exception):
    pass


def extract_text(filename: str, data: bytes) -> str:
    suffix = PurePosixPath(filename).suffix.lower()
    if data.startswith(b"%PDF") or suffix == ".pdf":
        return _pdf_text(data)
    if suffix in (".docx", ".pptx") and data.startswith(b"PK"):
        return _office_text(suffix, data)
    return data.decode("utf-8", errors="replace")


def _pdf_text(data: bytes) -> str:
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise ExtractionError(str(exc)) from exc
    try:
        pages = []
        for page in pdf:
            textpage = page.get_textpage()
            pages.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return "\n\n".join(pages)
    except pypdfium2.PdfiumError as exc:  # a damaged page: the API reports invalid_file
        raise ExtractionError(str(exc)) from exc
    finally:
        pdf.close()


def _office_text(suffix: str, data: bytes) -> str:
    try:
        if suffix == ".docx":
            import docx

            document = docx.Document(io.BytesIO(data))
            return "\n".join(paragraph.text for paragraph in document.paragraphs)
        import pptx

        deck = pptx.Presentation(io.BytesIO(data))
        return "\n".join(
            shape.text_frame.text
            for slide in deck.slides
            for shape in slide.shapes
            if shape.has_text_frame
        )
    except ImportError:
        return data.decode("utf-8", errors="replace")
    except Exception as exc:  # a broken Office file is the caller's invalid_file
        raise ExtractionError(str(exc)) from exc


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text.split()) * TOKENS_PER_WORD)


def word_count(text: str) -> int:
    return len(text.split())


def chunk_text(text: str, *, max_tokens: int, overlap_tokens: int) -> list[str]:
    """Windows of whole words, `max_tokens` long, each starting `max - overlap` tokens later."""
    spans = [match.span() for match in re.finditer(r"\S+", text)]
    if not spans:
        return []
    window = max(1, int(max_tokens / TOKENS_PER_WORD))
    step = max(1, window - int(overlap_tokens / TOKENS_PER_WORD))
    chunks = []
    for start in range(0, len(spans), step):
        end = min(start + window, len(spans))
        chunks.append(text[spans[start][0] : spans[end - 1][1]])
        if end == len(spans):
            break
    return chunks


def stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lowercase, stemmed word tokens; the unit of the lexical search."""
    return [stem(word) for word in _WORD.findall(text.lower())]


def content_terms(text: str) -> list[str]:
    return [
        term
        for term in tokenize(text)
        if term not in STOPWORDS and term not in BOILERPLATE and len(term) > 1
    ]


def proper_terms(text: str) -> set[str]:
    """Stemmed terms written with a capital letter somewhere other than the start of the text."""
    words = _WORD.findall(text)
    return {stem(word.lower()) for word in words[1:] if word[:1].isupper()}


def mentions_pronoun(text: str) -> bool:
    return any(word in PRONOUNS for word in re.findall(r"[\w']+", text.lower()))


def split_sentences(text: str) -> list[str]:
    sentences = []
    for line in re.split(r"\n+", text):
        for piece in re.split(r"(?<=[.!?])\s+", line):
            piece = piece.strip().lstrip("-*• ").strip()
            if piece:
                sentences.append(piece)
    return sentences


def split_deltas(text: str) -> list[str]:
    """Small pieces that concatenate back to `text`, like a model's token stream."""
    pieces = re.findall(r"\s*(?:[^\W_]+|[^\w\s]|_)", text)
    consumed = sum(len(piece) for piece in pieces)
    if consumed < len(text):
        if pieces:
            pieces[-1] += text[consumed:]
        else:
            pieces = [text]
    return pieces or [""]


def extension_supported(filename: str) -> bool:
    return PurePosixPath(filename).suffix.lower() in SUPPORTED_EXTENSIONS

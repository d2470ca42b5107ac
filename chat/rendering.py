"""Answers are Markdown written by a model over untrusted document text: render them on the
server, sanitise the result, and turn [n] markers into links to the cited passage.

Markdown is rendered with raw HTML disabled (a model's "<script>" shows as text), then nh3 keeps
only basic formatting, lists, tables, code and http/https/mailto links. Citation links are added
by a render rule, before sanitising, so they pass through the same allow-list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import nh3
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

QUOTE_CHARS = 280

_MARKER = re.compile(r"\[(\d{1,3})\]")

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "b", "em", "i", "del", "s", "sup", "sub",
    "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
    "ul", "ol", "li",
    "code", "pre",
    "table", "thead", "tbody", "tr", "th", "td",
    "a",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "class", "aria-label"},
    "ol": {"start"},
    "th": {"scope"},
}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"


@dataclass(frozen=True)
class Source:
    """One entry of the sources list under an answer."""

    number: int
    document: str
    where: str  # "page 3", "Slide 2", "pages 3-4", or "" when the page is unknown
    quote: str  # shortened
    url: str


def citation_url(corpus_slug: str, citation: Mapping[str, Any]) -> str:
    """The document viewer at the cited page, with the passage highlighted."""
    document_id = _int(citation.get("document_id"))
    if document_id is None:
        return ""
    url = reverse("documents:viewer", kwargs={"slug": corpus_slug, "document_id": document_id})
    params: dict[str, int] = {}
    page = _int(citation.get("page"))
    if page is not None:
        params["page"] = page
    start, end = _int(citation.get("char_start")), _int(citation.get("char_end"))
    if start is not None and end is not None and end > start:
        params.update(start=start, end=end)
    return f"{url}?{urlencode(params)}#passage" if params else url


def render_answer(
    text: str,
    *,
    citations: Sequence[Mapping[str, Any]],
    corpus_slug: str,
    page_labels: Mapping[tuple[int, int], str] | None = None,
) -> SafeString:
    """Sanitised HTML of an answer (complete or streamed so far). A marker's spoken label
    names the place as the Sources list does (a sheet, a slide, pages 2-3)."""
    links = {}
    for source in sources(citations, corpus_slug=corpus_slug, page_labels=page_labels):
        if source.url:
            label = f"Source {source.number}: {source.document}"
            if source.where:
                label += f", {source.where}"
            links[source.number] = (source.url, label)
    html = _MARKDOWN.render(text, {"citation_links": links})
    return mark_safe(sanitise(html))  # noqa: S308 - nh3 output


def sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )


def sources(
    citations: Sequence[Mapping[str, Any]],
    *,
    corpus_slug: str,
    page_labels: Mapping[tuple[int, int], str] | None = None,
) -> list[Source]:
    page_labels = page_labels or {}
    result = []
    for citation in citations:
        number = _int(citation.get("number"))
        if number is None:
            continue
        document_id = _int(citation.get("document_id"))
        page, page_end = _int(citation.get("page")), _int(citation.get("page_end"))
        where = ""
        if page is not None:
            label = page_labels.get((document_id or 0, page), "")
            if label:
                where = label
            elif page_end is not None and page_end > page:
                where = f"pages {page}\u2013{page_end}"
            else:
                where = f"page {page}"
        result.append(
            Source(
                number=number,
                document=str(citation.get("document") or "Document"),
                where=where,
                quote=shorten(str(citation.get("quote") or ""), QUOTE_CHARS),
                url=citation_url(corpus_slug, citation),
            )
        )
    return result


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.") + "…"


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _render_text(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    text = tokens[idx].content
    links: Mapping[int, tuple[str, str]] = env.get("citation_links", {})
    if not links or "[" not in text or _inside_link(tokens, idx):
        return escapeHtml(text)
    out: list[str] = []
    position = 0
    for match in _MARKER.finditer(text):
        link = links.get(int(match.group(1)))
        if link is None:
            continue
        out.append(escapeHtml(text[position : match.start()]))
        url, label = link
        out.append(
            f'<a class="cite" href="{escapeHtml(url)}" aria-label="{escapeHtml(label)}">'
            f"{match.group(1)}</a>"
        )
        position = match.end()
    out.append(escapeHtml(text[position:]))
    return "".join(out)


def _render_image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # Images would load from wherever a model or a document points (a tracking pixel):
    # show their alt text instead.
    return escapeHtml(self.renderInlineAsText(tokens[idx].children or [], options, env))


def _inside_link(tokens: Sequence[Token], idx: int) -> bool:
    depth = 0
    for token in tokens[:idx]:
        if token.type == "link_open":
            depth += 1
        elif token.type == "link_close":
            depth -= 1
    return depth > 0


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("text", _render_text)
    md.add_render_rule("image", _render_image)
    return md


_MARKDOWN = _markdown()

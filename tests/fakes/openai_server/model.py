"""The fake "model": deterministic answers built from search hits, numbered sources or an echo."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .text import (
    STOPWORDS,
    content_terms,
    mentions_pronoun,
    proper_terms,
    split_sentences,
    tokenize,
)

if TYPE_CHECKING:
    from .search import Hit
    from .state import State

NOT_FOUND = "I could not find that in the provided files."
NOT_IN_SOURCES = "I could not find that in the provided sources."

# A question with fewer content words than this leans on the previous turn.
FOLLOW_UP_MAX_TERMS = 2


@dataclass
class Claim:
    text: str
    hit: Hit | None = None
    end: str = ""


@dataclass
class Answer:
    claims: list[Claim] = field(default_factory=list)

    @property
    def hits(self) -> list[Hit]:
        return [claim.hit for claim in self.claims if claim.hit is not None]


@dataclass
class SearchPlan:
    query: str
    weights: dict[str, float]
    follow_up: bool
    # The terms of the question itself (a follow-up's weights also hold the previous one's).
    focus: frozenset[str] = frozenset()


def message_text(content: Any) -> str:
    """Text of a message's content in any of the APIs' shapes (string or list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, dict):  # Assistants: {"type": "text", "text": {"value": ...}}
                    text = text.get("value")
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts)
    return ""


def is_follow_up(question: str) -> bool:
    return mentions_pronoun(question) or len(set(content_terms(question))) <= FOLLOW_UP_MAX_TERMS


def plan_search(question: str, previous_question: str | None) -> SearchPlan:
    """The query the fake's file_search runs: a follow-up carries the previous question's words."""
    follow_up = previous_question is not None and is_follow_up(question)
    weights: dict[str, float] = {}
    if follow_up and previous_question is not None:
        earlier_proper = proper_terms(previous_question)
        for term in content_terms(previous_question):
            weights[term] = 1.5 if term in earlier_proper else 1.0
    proper = proper_terms(question)
    for term in content_terms(question):
        weights[term] = max(weights.get(term, 0.0), 3.0 if term in proper else 2.0)
    query = f"{previous_question} {question}" if follow_up else question
    return SearchPlan(
        query=query.strip(),
        weights=weights,
        follow_up=follow_up,
        focus=frozenset(content_terms(question)),
    )


def best_sentence(
    text: str, weights: dict[str, float], focus: frozenset[str] = frozenset()
) -> tuple[str, float]:
    """The sentence with the most weight; between equals, the one that answers the question
    itself rather than the turn it follows up."""
    best, best_score, best_focus = "", 0.0, 0.0
    for sentence in split_sentences(text):
        terms = set(tokenize(sentence))
        score = sum(weights.get(term, 0.0) for term in terms)
        on_focus = sum(weights.get(term, 0.0) for term in terms & focus)
        if score > best_score or (score == best_score and score > 0 and on_focus > best_focus):
            best, best_score, best_focus = sentence, score, on_focus
    return best, best_score


def _claim(sentence: str, hit: Hit) -> Claim:
    sentence = sentence.rstrip(".!?;: ")
    first = sentence.split(" ", 1)[0]
    if first.lower() in STOPWORDS:  # "the warranty", but "Travis's favorite"
        sentence = sentence[0].lower() + sentence[1:]
    return Claim(text=f"According to {hit.filename}, {sentence}", hit=hit, end=".")


def answer_from_hits(
    hits: list[Hit], weights: dict[str, float], focus: frozenset[str] = frozenset()
) -> Answer:
    """One sentence from the top hit, plus one from another file when it is about as relevant."""
    if not hits:
        return Answer([Claim(NOT_FOUND)])
    top = hits[0]
    sentence, score = best_sentence(top.text, weights, focus)
    if not sentence:
        return Answer([Claim(NOT_FOUND)])
    claims = [_claim(sentence, top)]
    for hit in hits[1:]:
        if hit.file_id == top.file_id:
            continue
        other, other_score = best_sentence(hit.text, weights, focus)
        if other and other != sentence and other_score >= score / 2:
            claims.append(_claim(other, hit))
        break
    return Answer(claims)


def echo_answer(question: str, previous_question: str | None) -> Answer:
    text = f'This is a deterministic reply to: "{_clip(question)}"'
    if previous_question is not None:
        text += f' (previous question: "{_clip(previous_question)}")'
    return Answer([Claim(text, end=".")])


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- Chat Completions: numbered sources in the prompt ---------------------------------------------

_SOURCE_LINE = re.compile(r"^\s*\[(\d+)\]\s*:?\s*(.*)$")
_BLOCK_END = re.compile(r"^\s*(question|user question|query|q)\s*:", re.IGNORECASE)


_SOURCE_ELEMENT = re.compile(r'<source\s+id="(\d+)"[^>]*>(.*?)</source>', re.DOTALL)


def parse_sources(text: str) -> tuple[dict[int, str], str]:
    """Numbered sources and the remaining text. Sources are `<source id="n" ...>...</source>`
    elements, or `[n] ...` blocks (each runs to a blank line or the next marker)."""
    elements = {int(m.group(1)): m.group(2).strip() for m in _SOURCE_ELEMENT.finditer(text)}
    if elements:
        rest = _SOURCE_ELEMENT.sub("", text)
        question = re.search(
            r"^\s*question\s*:\s*(.*)", rest, re.IGNORECASE | re.MULTILINE | re.DOTALL
        )
        return elements, (question.group(1) if question else rest).strip()
    sources: dict[int, str] = {}
    rest: list[str] = []
    current: int | None = None
    for line in text.splitlines():
        match = _SOURCE_LINE.match(line)
        if match:
            current = int(match.group(1))
            sources[current] = match.group(2)
        elif current is not None and line.strip() and not _BLOCK_END.match(line):
            sources[current] += "\n" + line
        else:
            current = None
            rest.append(line)
    return sources, "\n".join(rest).strip()


def chat_reply(messages: list[dict[str, Any]]) -> str:
    sources: dict[int, str] = {}
    user_questions: list[str] = []
    for message in messages:
        role = message.get("role")
        text = message_text(message.get("content"))
        if role not in ("system", "developer", "user"):
            continue
        found, rest = parse_sources(text)
        sources.update(found)
        if role == "user":
            user_questions.append(rest or text)
    question = user_questions[-1] if user_questions else ""
    previous = user_questions[-2] if len(user_questions) > 1 else None
    if any("standalone search query" in message_text(m.get("content")) for m in messages):
        return rewrite_reply(question)
    if not sources:
        claim = echo_answer(question, previous).claims[0]
        return claim.text + claim.end
    weights = plan_search(question, None).weights
    ranked = []
    for number in sorted(sources):
        for position, sentence in enumerate(split_sentences(sources[number])):
            score = sum(weights.get(term, 0.0) for term in set(tokenize(sentence)))
            if score > 0:
                ranked.append((-score, number, -len(sentence.split()), position, sentence))
    if not ranked:
        return NOT_IN_SOURCES
    _, number, _, _, sentence = min(ranked)
    return f"{sentence.rstrip('.!?;: ')} [{number}]."


def rewrite_reply(transcript: str) -> str:
    """What a model answers to "rewrite the last question as a standalone query": the last
    question, with the one before it when it leans on it (few words of its own, a pronoun)."""
    asked = [line[len("User: ") :] for line in transcript.splitlines() if line.startswith("User: ")]
    if not asked:
        return transcript.strip()
    last = asked[-1]
    if len(asked) > 1 and (
        len(content_terms(last)) <= FOLLOW_UP_MAX_TERMS or mentions_pronoun(last)
    ):
        return f"{asked[-2]} {last}"
    return last


def user_texts(items: list[dict[str, Any]]) -> list[str]:
    """User messages' texts, oldest first, from Responses/Conversations items or chat messages."""
    texts = []
    for item in items:
        if item.get("role") == "user" and item.get("type", "message") == "message":
            text = message_text(item.get("content"))
            if text.strip():
                texts.append(text)
    return texts


@dataclass
class Retrieval:
    plan: SearchPlan
    hits: list[Hit]
    answer: Answer


def retrieve_and_answer(
    state: State,
    *,
    question: str,
    previous_question: str | None,
    vector_store_ids: list[str],
    max_num_results: int,
    filters: dict[str, Any] | None,
    score_threshold: float,
) -> Retrieval:
    from .search import search

    plan = plan_search(question, previous_question)
    hits = search(
        state,
        vector_store_ids,
        plan.weights,
        max_num_results=max_num_results,
        filters=filters,
        score_threshold=score_threshold,
    )
    return Retrieval(plan=plan, hits=hits, answer=answer_from_hits(hits, plan.weights, plan.focus))

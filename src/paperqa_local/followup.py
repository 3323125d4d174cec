"""Follow-up questions ("which of those works without retraining?"): read with the turn before them.

A follow-up is searched together with the question it follows, and the papers the previous answer cited stay
among its sources: "those" are those papers, whatever the new words retrieve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .types import Answer, SearchHit

if TYPE_CHECKING:
    from .qa import PaperQA


def previous_turn(history) -> tuple[str, str, list[str]] | None:
    """The last turn of `history`: (question, answer text, cited paper ids). A turn is an `Answer`, a
    (question, answer) pair, or a dict with "question", "text" and optionally "cited" (paper ids)."""
    if not history:
        return None
    turn = history[-1]
    if isinstance(turn, Answer):
        return turn.question, turn.text, [c.paper_id for c in turn.citations]
    if isinstance(turn, dict):
        return turn.get("question", ""), turn.get("text", ""), list(turn.get("cited", []))
    question, text = turn[0], turn[1]
    return question, text, list(turn[2]) if len(turn) > 2 else []


def condense(question: str, history) -> str:
    """A follow-up ("and how fast is it?") is searched together with the question it follows."""
    previous = previous_turn(history)
    return f"{previous[0]} {question}" if previous else question


def with_previous_papers(qa: PaperQA, hits: list[SearchHit], paper_ids: list[str]) -> list[SearchHit]:
    """A follow-up ("which of those …") is about the papers the previous answer cited: keep them among the hits."""
    missing = [pid for pid in paper_ids if pid not in {hit.paper_id for hit in hits}]
    if not missing:
        return hits
    extra = qa.paper_hits(missing)
    return (hits[:1] + extra + hits[1:])[: max(len(hits), len(extra) + 1)]  # after the best new hit

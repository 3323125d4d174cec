"""A conversation as the Ask tab shows it: the chat's messages, the sources panel (one block per answer, the
latest shown), the exported Markdown file and the sidebar's list. Pure rendering over `conversations.py`."""

from pathlib import Path
from typing import Any

from .conversations import answer_markdown, file_name, to_markdown, turn_answer
from .render import EMPTY_SOURCES, answer_html, markup, sources_html, stopped_html

EXAMPLES = 3  # example questions on an empty chat


def turn_html(turn: dict[str, Any], number: int) -> str:
    answer = turn_answer(turn)
    if turn.get("stopped") and not answer.answerable:
        return stopped_html(turn.get("partial", ""))
    return answer_html(answer, number)


def chat_messages(conversation: dict[str, Any]) -> list[dict[str, str]]:
    messages = []
    for number, turn in enumerate(conversation["turns"], 1):
        messages += [{"role": "user", "content": markup(turn["question"])},
                     {"role": "assistant", "content": turn_html(turn, number)}]
    return messages


def turn_panels(conversation: dict[str, Any], abstracts_for) -> list[str]:
    """Each answer's sources, in order, all hidden; `abstracts_for(hits)` gives the papers' whole texts."""
    answers = [turn_answer(turn) for turn in conversation["turns"]]
    abstracts = abstracts_for([hit for answer in answers for hit in answer.contexts])
    return [sources_html(answer, number, abstracts, hidden=True, copy_text=answer_markdown(turn))
            for number, (turn, answer) in enumerate(zip(conversation["turns"], answers), 1)]


def sources_panel(panels: list[str], current: str | None = None) -> str:
    """The panels with the newest (`current`, else the last of `panels`) shown first."""
    if current is None:
        if not panels:
            return EMPTY_SOURCES
        panels, current = panels[:-1], panels[-1]
    return "".join([current.replace(" hidden>", ">", 1), *reversed(panels)])


def export_file(conversation: dict[str, Any], folder: Path) -> str | None:
    """The conversation as Markdown, in a file named after its title (None while it has no answer)."""
    if not conversation["turns"]:
        return None
    target = folder / conversation["id"]
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.md"):  # a renamed conversation leaves no file under its old name
        old.unlink()
    path = target / file_name(conversation.get("title") or "conversation")
    path.write_text(to_markdown(conversation), encoding="utf-8")
    return str(path)


def listing_choices(listing: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(item["title"], item["id"]) for item in listing]


def example_questions(papers: list[dict[str, Any]]) -> list[str]:
    """Questions about papers of the library, spread over it (the same ones each time for the same library)."""
    usable = [paper for paper in papers if paper.get("abstract") and 8 <= len(paper["title"]) <= 90]
    if not usable:
        return []
    step = max(1, len(usable) // EXAMPLES)
    return [f"What does “{paper['title'].rstrip('.')}” contribute?" for paper in usable[::step][:EXAMPLES]]

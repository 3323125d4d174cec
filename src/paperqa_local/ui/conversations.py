"""Conversations that outlive the page: one JSON file per conversation under
<home>/conversations/<user>/<id>.json, written atomically (a temporary file, then `os.replace`), so a crash
mid-write leaves the old file whole. A turn keeps the whole `Answer`, so a reopened conversation renders,
exports and follows up exactly as it did when it was asked.

Pure Python: no Gradio here; `sidebar.py` wires it to the page.
"""

import dataclasses
import hashlib
import json
import os
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ..types import Answer, Citation, SearchHit

TITLE_CHARS = 60
_ID = re.compile(r"[0-9a-f]{12}")


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    return dataclasses.asdict(answer)


def _known(cls, data: dict[str, Any]) -> dict[str, Any]:
    """Only the fields `cls` has now: a file written by an older or newer version still opens."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def answer_from_dict(data: dict[str, Any]) -> Answer:
    fields = _known(Answer, data)
    fields["citations"] = [Citation(**_known(Citation, c)) for c in data.get("citations", [])]
    fields["contexts"] = [SearchHit(**_known(SearchHit, h)) for h in data.get("contexts", [])]
    return Answer(**fields)


def title_for(question: str) -> str:
    """A conversation's first title: its first question, cut at a word near TITLE_CHARS."""
    words = " ".join(question.split())
    if len(words) <= TITLE_CHARS:
        return words or "New conversation"
    return words[:TITLE_CHARS].rsplit(" ", 1)[0] + "…"


def file_name(title: str) -> str:
    """"Which system recommends …?" → "Which-system-recommends.md": safe on every file system."""
    stem = re.sub(r"[^\w\- ]+", "", title, flags=re.UNICODE).strip()
    stem = re.sub(r"\s+", "-", stem)[:80].strip("-")
    return f"{stem or 'conversation'}.md"


def new_conversation() -> dict[str, Any]:
    now = time.time()
    return {"id": uuid.uuid4().hex[:12], "title": "", "created": now, "updated": now, "turns": []}


def turn_record(answer: Answer, stopped: bool = False, partial: str = "") -> dict[str, Any]:
    """One question and its answer; `partial` is what was written before Stop when nothing was cited."""
    return {"question": answer.question, "answer": answer_to_dict(answer), "stopped": stopped, "partial": partial}


def turn_answer(turn: dict[str, Any]) -> Answer:
    return answer_from_dict(turn["answer"])


def history(conversation: dict[str, Any]) -> list[dict[str, Any]]:
    """What `qa.stream(history=…)` reads: each earlier question, its answer and the papers it cited."""
    return [{"question": t["question"], "text": t["answer"]["text"],
             "cited": [c["paper_id"] for c in t["answer"].get("citations", [])]} for t in conversation["turns"]]


def answer_markdown(turn: dict[str, Any]) -> str:
    """What an answer's copy link copies: the answer with its references; an answer stopped before it cited
    anything is what was written, marked as stopped."""
    answer = turn_answer(turn)
    if turn.get("stopped") and not answer.answerable:
        return f"{turn.get('partial', '').strip()} … (stopped)"
    return answer.to_markdown()


def turn_markdown(turn: dict[str, Any]) -> str:
    """One turn for export: the question, then the answer with its references (a decline keeps its question)."""
    return f"## {turn['question']}\n\n{answer_markdown(turn)}\n"


def to_markdown(conversation: dict[str, Any]) -> str:
    title = conversation.get("title") or "Conversation"
    return f"# {title}\n\n" + "\n".join(turn_markdown(t) for t in conversation["turns"])


def last_papers(conversation: dict[str, Any]) -> dict[str, Any]:
    """The last answer's papers (for the map) and its citations (for the Library's reference export)."""
    if conversation["turns"]:
        answer = conversation["turns"][-1]["answer"]
        return {"retrieved": [h["paper_id"] for h in answer.get("contexts", [])],
                "cited": [c["paper_id"] for c in answer.get("citations", [])],
                "citations": answer.get("citations", [])}
    return {"retrieved": [], "cited": [], "citations": []}


def user_folder(user: str | None) -> str:
    """A login name as a folder name: "local" without a login; anything unsafe replaced, with a hash so that
    two names never share a folder."""
    if not user:
        return "local"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", user).strip(".") or "user"
    return safe if safe == user else f"{safe}-{hashlib.sha1(user.encode()).hexdigest()[:8]}"


class Conversations:
    """The conversation files of one data directory."""

    def __init__(self, home: str | Path):
        self.root = Path(home) / "conversations"

    def _path(self, user: str | None, conversation_id: str) -> Path:
        if not _ID.fullmatch(conversation_id or ""):
            raise KeyError(conversation_id)  # never a path outside the user's folder
        return self.root / user_folder(user) / f"{conversation_id}.json"

    def save(self, user: str | None, conversation: dict[str, Any]) -> None:
        path = self._path(user, conversation["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        conversation["updated"] = time.time()
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(conversation, out, ensure_ascii=False)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self, user: str | None, conversation_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(user, conversation_id).read_text(encoding="utf-8"))
        except (KeyError, OSError, ValueError):
            return None

    def delete(self, user: str | None, conversation_id: str) -> None:
        try:
            self._path(user, conversation_id).unlink(missing_ok=True)
        except KeyError:
            pass

    def listing(self, user: str | None) -> list[dict[str, Any]]:
        """The user's conversations, the most recently changed first: id, title, updated."""
        folder = self.root / user_folder(user)
        found = []
        for path in folder.glob("*.json") if folder.is_dir() else []:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a file that is not a conversation: leave it alone
            found.append({"id": data.get("id", path.stem), "title": data.get("title") or "Untitled",
                          "updated": data.get("updated", 0)})
        return sorted(found, key=lambda c: c["updated"], reverse=True)

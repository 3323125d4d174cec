"""What the tabs share: the library each browser session uses (its facade and corpus map, the header line,
abstracts for the sources panels), the year filter of the settings panel, and the mark that keeps the page's own
events out of the API.

Libraries are chosen per browser session: in a lab sharing one server, one user's switch must not change what
another user's next question is answered from. Every session starts in the library the server was started with
(`--collection`); one facade per library serves every session that uses it, all sharing the loaded models.
"""

import re
import threading
from typing import Any, NamedTuple

from .corpus_map import CorpusMap
from .render import markup, undated_note

PRIVATE = {"api_visibility": "private"}  # the page's own events; the API is `api.py`'s


class Filters(NamedTuple):
    """The settings panel's components that Ask, Check and Library read."""

    k: Any
    year_from: Any
    year_to: Any
    include_undated: Any


def user_of(request) -> str | None:
    """Who is asking: the login name, or None when the app has no login (one local user)."""
    return getattr(request, "username", None) or None


def session_of(request) -> str:
    return getattr(request, "session_hash", None) or "-"


class Library:
    """One library (a collection) as the tabs use it: its facade, its corpus map, the header line, abstracts."""

    def __init__(self, qa):
        self.qa = qa
        self.corpus_map = CorpusMap(qa)

    @property
    def name(self) -> str:
        return self.qa.settings.collection

    def header(self) -> str:
        papers = self.qa.stats()["papers"]
        return markup(f"{papers} papers indexed · library: {self.name} · model: {self.qa.settings.model}")

    def abstracts_for(self, hits) -> dict[str, str]:
        return self.qa.paper_texts(list(dict.fromkeys(hit.paper_id for hit in hits))) if hits else {}

    def undated_note(self, year_from: int | None, year_to: int | None, include_undated: bool) -> str:
        """"N papers without a year hidden …" when a year filter is set and undated papers are left out, else ""."""
        if not (year_from or year_to) or include_undated:
            return ""
        return undated_note(self.qa.undated_count())


class Shared:
    """What more than one tab uses: each session's library, the models, the year filter. `qa` is the library the
    server was started with, where every session begins."""

    def __init__(self, qa):
        self.qa = qa
        self._libraries = {qa.settings.collection: Library(qa)}
        self._chosen: dict[str, str] = {}  # browser session -> the name of its library
        self._lock = threading.Lock()

    def of(self, request) -> Library:
        """The library this browser session uses."""
        return self._libraries[self._chosen.get(session_of(request), self.qa.settings.collection)]

    def choose(self, request, name: str) -> Library:
        """Switch this session to library `name`, created empty when new; raises PaperQAError (a bad name, a
        library of another embedding model) with the fix, and the session keeps its library."""
        with self._lock:
            if name not in self._libraries:
                self._libraries[name] = Library(self.qa.with_collection(name))
        self._chosen[session_of(request)] = name
        return self._libraries[name]

    def forget(self, request) -> None:
        self._chosen.pop(session_of(request), None)

    def choices(self) -> list[tuple[str, str]]:
        """(label, name) of every library in the data directory: "papers (39 papers)"."""
        names = {item["name"]: item["papers"] for item in self.qa.collections()}
        names.update({name: names.get(name, 0) for name in self._libraries})
        return [(f"{name} ({count} paper{'s' * (count != 1)})", name) for name, count in sorted(names.items())]

    def use_model(self, model: str) -> None:
        """The model is the server's, for every library (one model in memory); the fix is raised if it has no file."""
        self.qa.use_model(model)  # a model without a file raises here, and nothing changes
        for library in self._libraries.values():
            library.qa.use_model(model)

    @staticmethod
    def years(year_from: str, year_to: str) -> tuple[int | None, int | None]:
        """A year filter (the settings panel's, or the Library's own): empty means no limit."""
        import gradio as gr

        for name, value in (("From year", year_from), ("To year", year_to)):
            if (value or "").strip() and not re.fullmatch(r"\d{4}", value.strip()):
                raise gr.Error(f"{name} must be a year like 2020, or empty for no limit (not {value.strip()!r}).")
        year_from = int(year_from) if (year_from or "").strip() else None
        year_to = int(year_to) if (year_to or "").strip() else None
        if year_from and year_to and year_from > year_to:
            raise gr.Error(f"The year filter runs from {year_from} to {year_to}: swap them.")
        return year_from, year_to

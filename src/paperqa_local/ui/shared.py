"""What the tabs share: the facade and the corpus map, the header line, abstracts for the sources panels, the
year filter of the settings panel, and the mark that keeps the page's own events out of the API."""

import re
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


class Shared:
    """What more than one tab uses: the facade, the corpus map, the header line, abstracts, the year filter."""

    def __init__(self, qa):
        self.qa = qa
        self.corpus_map = CorpusMap(qa)

    def header(self) -> str:
        papers = self.qa.stats()["papers"]
        return markup(f"{papers} papers indexed · model: {self.qa.settings.model}")

    def abstracts_for(self, hits) -> dict[str, str]:
        return self.qa.paper_texts(list(dict.fromkeys(hit.paper_id for hit in hits))) if hits else {}

    def undated_note(self, year_from: int | None, year_to: int | None, include_undated: bool) -> str:
        """"N papers without a year hidden …" when a year filter is set and undated papers are left out, else ""."""
        if not (year_from or year_to) or include_undated:
            return ""
        return undated_note(self.qa.undated_count())

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

"""The nouns every other module speaks: papers, chunks, search hits, citations and answers."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

_ARXIV = re.compile(r"arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5})", re.I)
_DOI = re.compile(r"(10\.\d{4,9}/\S+)", re.I)


def normalise_title(title: str) -> str:
    """Lower-case, accent-free, punctuation-free title: equal for the same paper in any listing."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[$\\{}^_]", "", text)  # H$_2$O and H2O are the same title
    text = re.sub(r"[^0-9a-z]+", " ", text.lower())
    return " ".join(text.split())


def paper_id_for(title: str, doi: str | None = None, url: str | None = None, given: str | None = None) -> str:
    """A stable id: the DOI, then an arXiv id, then a given id, else a hash of the normalised title."""
    if doi:
        match = _DOI.search(doi)
        return f"doi:{(match.group(1) if match else doi).lower().rstrip('.')}"
    if url:
        match = _ARXIV.search(url)
        if match:
            return f"arxiv:{match.group(1)}"
        match = _DOI.search(url)
        if match:
            return f"doi:{match.group(1).lower().rstrip('.')}"
    if given:
        return str(given)
    key = normalise_title(title) or " ".join(title.casefold().split())  # a title in another script has no a–z
    return "t:" + hashlib.sha1(key.encode()).hexdigest()[:16]


@dataclass
class Paper:
    """One paper: what a source file says about it."""

    paper_id: str
    title: str
    abstract: str
    year: int | None = None
    date: str | None = None
    authors: list[str] = field(default_factory=list)
    author_count: int | None = None
    organisation: str | None = None
    url: str | None = None
    doi: str | None = None
    source: str | None = None

    def metadata(self) -> dict[str, Any]:
        """Flat metadata for the vector store (scalars only; unknown values left out)."""
        data = {
            "paper_id": self.paper_id,
            "title": self.title,
            "year": self.year,
            "date": self.date,
            "authors": "; ".join(self.authors) or None,
            "author_count": self.author_count if self.author_count is not None else (len(self.authors) or None),
            "organisation": self.organisation,
            "url": self.url,
            "doi": self.doi,
            "source": self.source,
        }
        return {key: value for key, value in data.items() if value is not None}


@dataclass
class Chunk:
    """A piece of a paper's text, the unit that is embedded and stored."""

    chunk_id: str
    paper_id: str
    text: str
    position: int


@dataclass
class Problem:
    """A record that could not be read, and why."""

    source: str
    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.location}: {self.reason}"


@dataclass
class SearchHit:
    """A paper as retrieved for a query: its best chunk and its fused score."""

    paper_id: str
    title: str
    score: float
    text: str
    year: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    dense_rank: int | None = None
    keyword_rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"paper_id": self.paper_id, "title": self.title, "year": self.year, "score": round(self.score, 6)}


@dataclass
class Citation:
    """A numbered source of an answer and the sentences that support what was said."""

    key: int
    paper_id: str
    title: str
    year: int | None = None
    sentences: list[str] = field(default_factory=list)
    score: float | None = None


@dataclass
class Answer:
    """What `PaperQA.ask` returns."""

    question: str
    text: str
    answerable: bool
    citations: list[Citation] = field(default_factory=list)
    contexts: list[SearchHit] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    raw_text: str = ""
    uncited_sentences: list[str] = field(default_factory=list)
    verdict: str | None = None
    label_scores: dict[str, float] = field(default_factory=dict)  # log-probability of each verdict, before calibration
    dropped: list[str] = field(default_factory=list)  # figures or names taken out of the model's text, and why
    signals: dict[str, float] = field(default_factory=dict)  # what the decline decision read (relevance, decline_logprob)
    ignored_orders: list[str] = field(default_factory=list)  # "paper id: sentence" addressed to the assistant, never sent

    def references(self) -> str:
        """The reference list of the cited papers, one line each."""
        return "\n".join(
            f"[{c.key}] {c.title}" + (f" ({c.year})" if c.year else "") for c in self.citations
        )

    def to_markdown(self) -> str:
        refs = self.references()
        return self.text + ("\n\n**References**\n\n" + refs.replace("\n", "  \n") if refs else "")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["contexts"] = [hit.to_dict() for hit in self.contexts]
        return data

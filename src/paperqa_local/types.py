"""The nouns every other module speaks: papers, chunks, search hits, citations and answers."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

_ARXIV = re.compile(r"arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5})", re.I)
_DOI = re.compile(r"(10\.\d{4,9}/\S+)", re.I)
# an arXiv identifier as written in an eprint field, a note or arXiv's own DOI: 2401.01234v2, hep-th/9901001
_ARXIV_ID = re.compile(r"(?<![\w.])(?:arxiv[:.\s]*)?(\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?(?![\w.])", re.I)
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.", re.I)


def normalise_title(title: str) -> str:
    """Lower-case, accent-free, punctuation-free title: equal for the same paper in any listing."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[$\\{}^_]", "", text)  # H$_2$O and H2O are the same title
    text = re.sub(r"[^0-9a-z]+", " ", text.lower())
    return " ".join(text.split())


def arxiv_id_of(text: str | None) -> str | None:
    """The arXiv id, without its version, in an eprint field, an arXiv URL or DOI, or "arXiv preprint arXiv:…"."""
    if not text:
        return None
    match = _ARXIV.search(text)
    if match:
        return match.group(1)
    text = _ARXIV_DOI.sub("", text.strip())
    match = _ARXIV_ID.search(text)
    return match.group(1) if match else None


def doi_of(text: str | None) -> str | None:
    """The DOI in a DOI field or a doi.org link, lower-cased (DOIs are case-insensitive)."""
    if not text:
        return None
    match = _DOI.search(text)
    return match.group(1).lower().rstrip(".") if match else None


def paper_id_for(title: str, doi: str | None = None, url: str | None = None, given: str | None = None,
                 arxiv: str | None = None) -> str:
    """A stable id: the DOI, then an arXiv id, then a given id, else a hash of the normalised title.

    arXiv's own DOIs (10.48550/arXiv.…) give the arXiv id, so a .bib entry with that DOI and a JSONL record with
    the arXiv link are one paper."""
    if doi and _ARXIV_DOI.match(doi_of(doi) or "") and arxiv_id_of(doi):
        return f"arxiv:{arxiv_id_of(doi)}"
    if doi:
        return f"doi:{doi_of(doi) or doi.lower().rstrip('.')}"
    if arxiv and arxiv_id_of(arxiv):
        return f"arxiv:{arxiv_id_of(arxiv)}"
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
    venue: str | None = None  # journal or proceedings
    arxiv_id: str | None = None
    keywords: list[str] = field(default_factory=list)
    entry_type: str | None = None  # the BibTeX type it came as, or its RIS type in BibTeX's words: article, inproceedings …
    # a full text's pages, in order: (page number, 1-based; its text or a piece of it); `abstract` is then their text
    pages: list[tuple[int, str]] = field(default_factory=list)
    # what a reference entry says of its PDF, to find it among the files ingested with it (not stored):
    # the entry's BibTeX key or RIS ID, and the names of the files attached to it (Zotero's `file` field, RIS L1)
    citation_key: str | None = None
    attachments: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        """Flat metadata for the vector store (scalars only; unknown values left out). A paper listed without an
        abstract (a reference-manager entry) is stored with its title as text and `no_abstract` set."""
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
            "venue": self.venue,
            "arxiv_id": self.arxiv_id,
            "keywords": "; ".join(self.keywords) or None,
            "entry_type": self.entry_type,
            "no_abstract": True if not self.abstract else None,
            "pages": max((page for page, _ in self.pages), default=None),  # a full text: its last page
        }
        return {key: value for key, value in data.items() if value is not None}

    def doi_key(self) -> str | None:
        """Its DOI, lower-cased, from the DOI field or the id: what two records of one paper share."""
        return doi_of(self.doi) or (self.paper_id[4:] if self.paper_id.startswith("doi:") else None)

    def arxiv_key(self) -> str | None:
        """Its arXiv id without version, from the field, an arxiv.org link, arXiv's DOI or the id."""
        link = _ARXIV.search(self.url or "")
        doi = self.doi_key() or ""
        return (self.arxiv_id or (link.group(1) if link else None) or (arxiv_id_of(doi) if _ARXIV_DOI.match(doi) else None)
                or (self.paper_id[6:] if self.paper_id.startswith("arxiv:") else None))

    @classmethod
    def from_metadata(cls, meta: dict[str, Any], text: str = "") -> Paper:
        """The paper as the store holds it: its metadata and its whole text (`Store.papers`)."""
        authors = [name for name in (meta.get("authors") or "").split("; ") if name]
        count = meta.get("author_count")
        return cls(
            paper_id=meta["paper_id"], title=meta.get("title", ""), abstract="" if meta.get("no_abstract") else text,
            year=meta.get("year"), date=meta.get("date"), authors=authors,
            author_count=None if authors and count == len(authors) else count,  # metadata() counts the names
            organisation=meta.get("organisation"), url=meta.get("url"), doi=meta.get("doi"), source=meta.get("source"),
            venue=meta.get("venue"), arxiv_id=meta.get("arxiv_id"),
            keywords=[word for word in (meta.get("keywords") or "").split("; ") if word], entry_type=meta.get("entry_type"),
        )


@dataclass
class Chunk:
    """A piece of a paper's text, the unit that is embedded and stored."""

    chunk_id: str
    paper_id: str
    text: str
    position: int
    page: int | None = None  # the page of a full text it is on (1-based)


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

    @property
    def page(self) -> int | None:
        """The page of a full text that the best chunk is on."""
        return self.metadata.get("page")

    def to_dict(self) -> dict[str, Any]:
        data = {"paper_id": self.paper_id, "title": self.title, "year": self.year, "score": round(self.score, 6)}
        return {**data, "page": self.page} if self.page is not None else data


def surname(name: str) -> str:
    """"Vaswani, Ashish" and "Ashish Vaswani" both give "Vaswani"."""
    name = name.strip()
    return name.split(",")[0].strip() if "," in name else (name.split() or [""])[-1]


def byline(authors: list[str], organisation: str | None = None) -> str | None:
    """"Vaswani", "Vaswani and Shazeer", "Vaswani et al.", else the organisation a listing names."""
    names = [surname(name) for name in authors if surname(name)]
    if len(names) > 2:
        return f"{names[0]} et al."
    return " and ".join(names) or organisation or None


def link_for(doi: str | None, arxiv_id: str | None, url: str | None) -> str | None:
    if doi and not _ARXIV_DOI.match(doi):
        return f"https://doi.org/{doi}"
    if arxiv_id:
        return f"https://arxiv.org/abs/{arxiv_id}"
    return url or (f"https://doi.org/{doi}" if doi else None)


def page_of(sentences: list[str], pieces: list[tuple[int | None, str]]) -> int | None:
    """The page of the piece of a full text that holds the first of `sentences`: the piece with most of its words
    (evidence is cleaned of LaTeX and markers, so the sentence may not be there character for character)."""
    words = set(re.findall(r"\w+", sentences[0].lower())) if sentences else set()
    paged = [(page, text) for page, text in pieces if page is not None]
    if not words or not paged:
        return None
    best = max(paged, key=lambda piece: len(words & set(re.findall(r"\w+", piece[1].lower()))))
    return best[0]


@dataclass
class Citation:
    """A numbered source of an answer, the sentences that support what was said, and what a reference needs."""

    key: int
    paper_id: str
    title: str
    year: int | None = None
    sentences: list[str] = field(default_factory=list)
    score: float | None = None
    authors: list[str] = field(default_factory=list)  # every author, as the source names them
    byline: str | None = None  # "Vaswani et al.", or the organisation of a listing that names no authors
    venue: str | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    url: str | None = None
    link: str | None = None  # https://doi.org/…, else https://arxiv.org/abs/…, else the paper's URL
    entry_type: str | None = None
    page: int | None = None  # the page of a full text that the sentences are on (`page_of`)

    @classmethod
    def of(cls, key: int, hit: SearchHit, sentences: list[str], score: float | None = None) -> Citation:
        """The citation of a retrieved paper, its reference fields read from the stored metadata."""
        paper = Paper.from_metadata({**hit.metadata, "paper_id": hit.paper_id})
        doi, arxiv = paper.doi_key(), paper.arxiv_key()
        return cls(key, hit.paper_id, hit.title, hit.year, sentences, score, authors=paper.authors,
                   byline=byline(paper.authors, paper.organisation), venue=paper.venue, doi=doi, arxiv_id=arxiv,
                   url=paper.url, link=link_for(doi, arxiv, paper.url), entry_type=paper.entry_type)

    def to_dict(self) -> dict[str, Any]:
        """Every field, `page` included (None unless the paper is a full text), as `ask --json` prints it."""
        return asdict(self)

    def reference(self, markdown: bool = False) -> str:
        """"Attention Is All You Need (Vaswani et al., 2017). NeurIPS. https://doi.org/…"; in Markdown the title
        links there and the venue is in italics."""
        title = self.title.rstrip(".")
        if markdown and self.link:
            title = "[" + title.replace("[", "\\[").replace("]", "\\]") + f"]({self.link})"
        when = ", ".join(str(part) for part in (self.byline, self.year) if part)
        parts = [title + (f" ({when})" if when else "") + (f", p. {self.page}" if self.page else "")]
        if self.venue:
            parts.append(f"*{self.venue}*" if markdown else self.venue)
        if self.link and not markdown:
            parts.append(self.link)
        return ". ".join(parts)


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
        """The reference list of the cited papers, one line each: "[1] Title (Vaswani et al., 2017). Venue. link"."""
        return "\n".join(f"[{c.key}] {c.reference()}" for c in self.citations)

    def references_markdown(self) -> str:
        """The same list in Markdown, each title linked to its DOI, arXiv page or URL where one is known."""
        return "  \n".join(f"[{c.key}] {c.reference(markdown=True)}" for c in self.citations)

    def to_bibtex(self) -> str:
        """The cited papers as BibTeX entries (keys such as vaswani2017attention), to import into a reference manager."""
        keys: set[str] = set()
        return "\n".join(bibtex_entry(c, keys) for c in self.citations)

    def to_markdown(self) -> str:
        refs = self.references_markdown()
        return self.text + ("\n\n**References**\n\n" + refs if refs else "")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["contexts"] = [hit.to_dict() for hit in self.contexts]
        return data


# BibTeX's special characters, escaped so that any title or name is one well-formed field value
_BIBTEX_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                   "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_BIBTEX_SPECIAL = re.compile("|".join(re.escape(char) for char in _BIBTEX_ESCAPES))
_STOP_WORDS = {"a", "an", "the", "on", "of", "for", "in", "to", "and", "with", "towards", "toward", "via", "is", "are"}


def bibtex_value(text: str) -> str:
    return _BIBTEX_SPECIAL.sub(lambda match: _BIBTEX_ESCAPES[match.group(0)], " ".join(text.split()))


def _ascii_word(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower())


def bibtex_entry(citation: Citation, taken: set[str]) -> str:
    """One @type{key, …} entry; `taken` holds the keys already used, so that each entry gets its own."""
    words = [_ascii_word(word) for word in citation.title.split()]
    first = next((word for word in words if word.isalpha() and word not in _STOP_WORDS), "") or next((w for w in words if w), "")
    base = (_ascii_word(surname(citation.authors[0])) if citation.authors else "") + str(citation.year or "") + first
    base = base or "paper" + hashlib.sha1(citation.paper_id.encode()).hexdigest()[:6]
    key, n = base, 0
    while key in taken:
        n += 1
        key = base + chr(ord("a") + n) if n < 26 else f"{base}{n}"
    taken.add(key)
    kind = citation.entry_type or ("article" if citation.venue else "misc")
    venue_field = {"inproceedings": "booktitle", "incollection": "booktitle", "article": "journal"}.get(kind, "howpublished")
    fields = [("title", citation.title), ("author", " and ".join(citation.authors)), ("year", str(citation.year or "")),
              (venue_field, citation.venue or ""), ("doi", citation.doi or ""), ("url", citation.url or (citation.link if not citation.doi else "") or "")]
    if citation.arxiv_id:
        fields += [("eprint", citation.arxiv_id), ("archiveprefix", "arXiv")]
    body = ",\n".join(f"  {name} = {{{bibtex_value(value)}}}" for name, value in fields if value)
    return f"@{kind}{{{key},\n{body}\n}}\n"

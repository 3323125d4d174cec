"""A PDF and the reference entry (.bib, .ris, a listing) of the same paper, ingested together, when their titles
differ: what a PDF says of itself is a guess (its metadata title is often empty, its first line may be a title cut
by a line break, a header, or the title without its subtitle), so the two are matched by evidence, strongest first:

3. the entry names the file: Zotero's `file = {…/name.pdf}` (RIS `L1`), or the PDF is named after the entry's key;
2. the entry's title heads the PDF's first page (line breaks, hyphenation and punctuation aside);
1. the two titles share nearly all their words (Jaccard similarity of their word sets of at least SIMILAR).

Never two different papers as one: a PDF and an entry whose DOIs or arXiv ids differ never match, and a match is
kept only when it is one to one at the best evidence either side has (two entries for one PDF, or one entry for
two PDFs, and nothing is merged): two records of one paper stored apart is the smaller harm.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..types import Paper, normalise_title

TITLE_HEAD = 400  # the title begins within this many letters and digits of the first page (after a venue's header)
MIN_TITLE = 20  # letters and digits: a shorter title ("Introduction", "Deep learning") is on too many first pages
MIN_WORDS = 3
SIMILAR = 0.9
# a first page that names the entry's title right after these is about that paper, not that paper
ABOUT_ANOTHER = ("commenton", "replyto", "responseto", "erratum", "corrigendum", "retraction", "correctionto")
_PDF_NAME = re.compile(r"[^:;\\/{}]+\.pdf\b", re.I)  # a file name in a path, a URL or Zotero's "Full Text:path:mime"


def pdf_names(value: str) -> list[str]:
    """The PDF file names in an attachment field: "Full Text PDF:/home/me/Zotero/storage/X/Ortiz 2021.pdf:application/pdf"
    → ["Ortiz 2021.pdf"] (Zotero's BibTeX `file`, Better BibTeX's plain paths, RIS `L1` file:// links)."""
    return [name.strip() for name in _PDF_NAME.findall(value or "") if name.strip()]


def _compact(text: str) -> str:
    """Letters and digits only, lower-case: a title over two lines or on one, hyphenated at a line break or not, and
    with or without its punctuation reads the same."""
    return normalise_title(text).replace(" ", "")


class _Seen:
    """What the matching compares of one paper, computed once."""

    def __init__(self, paper: Paper):
        self.paper = paper
        self.words = set(normalise_title(paper.title).split())
        self.title = _compact(paper.title)
        self.head = _compact(paper.pages[0][1][:4 * (TITLE_HEAD + 1000)]) if paper.pages else ""
        self.file = Path(paper.source or "").name.casefold()
        self.names = {name.casefold() for name in paper.attachments}
        self.key = (paper.citation_key or "").casefold()
        self.ids = (paper.doi_key(), paper.arxiv_key())


def evidence(pdf: _Seen, entry: _Seen) -> int:
    """How strongly `entry` is the reference of `pdf`: 3, 2 or 1 as the module says, 0 for no match."""
    if any(mine and theirs and mine != theirs for mine, theirs in zip(pdf.ids, entry.ids)):
        return 0
    if pdf.file and (pdf.file in entry.names or (entry.key and Path(pdf.file).stem == entry.key)):
        return 3
    at = pdf.head.find(entry.title) if len(entry.title) >= MIN_TITLE and len(entry.words) >= MIN_WORDS else -1
    if 0 <= at <= TITLE_HEAD and not pdf.head[max(0, at - 40):at].endswith(ABOUT_ANOTHER):
        return 2
    union = pdf.words | entry.words
    if len(entry.words) >= MIN_WORDS and len(pdf.words & entry.words) >= SIMILAR * len(union):
        return 1
    return 0


def match_pdfs(papers: list[Paper]) -> list[tuple[Paper, Paper]]:
    """(entry, PDF) pairs among `papers` (each paper once, already deduplicated by DOI, arXiv id and title): each
    full text with the one entry without pages that is surely its reference."""
    pdfs = [_Seen(paper) for paper in papers if paper.pages]
    entries = [_Seen(paper) for paper in papers if not paper.pages]
    if not pdfs or not entries:
        return []
    scores = {(i, j): score for i, pdf in enumerate(pdfs) for j, entry in enumerate(entries)
              if (score := evidence(pdf, entry))}
    best_of_pdf: dict[int, list[int]] = {}
    best_of_entry: dict[int, list[int]] = {}
    for (i, j), score in scores.items():
        best_of_pdf.setdefault(i, []).append(score)
        best_of_entry.setdefault(j, []).append(score)
    pairs = []
    for (i, j), score in scores.items():
        mine, theirs = best_of_pdf[i], best_of_entry[j]
        if score == max(mine) == max(theirs) and mine.count(score) == 1 and theirs.count(score) == 1:
            pairs.append((entries[j].paper, pdfs[i].paper))
    return pairs

"""BibTeX and BibLaTeX files, as Zotero, Mendeley, JabRef and Google Scholar export them (read by bibtexparser 2).

Each entry is a paper: title and abstract with their LaTeX turned into text ({\\"o} → ö, \\emph{x} → x, {GPU} → GPU,
-- → –), authors, year, venue (journal / booktitle), DOI, arXiv id (eprint, arxivid, an arxiv.org link, or Google
Scholar's "arXiv preprint arXiv:…"), URL and keywords; its key and the PDFs its `file` field names find its PDF
among the files ingested with it (`matching`). An entry without an abstract is kept as a reference whose text is its
title, and reported; an entry that cannot be read is reported with its line and key, the rest kept.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

from ..types import Paper, Problem, arxiv_id_of, doi_of, paper_id_for
from . import MAX_TITLE_CHARS, ParseResult
from .matching import pdf_names
from .reading import Lines, read_lines, whole_file_verdict

log = logging.getLogger(__name__)

NO_ABSTRACT = "no abstract: listed as a reference, searchable by title"
_ENTRY_START = re.compile(r"^\s*@", re.M)
_MATH = re.compile(r"(?<!\\)\$([^$]{0,300})\$")
_SPECIAL = re.compile(r"[\\{}$~]|--|``|''")  # what makes a word LaTeX rather than text
_MARKUP = re.compile(r"[\\$~]|--|``|''")  # the same, less the braces
ISLAND_CHARS = 2000
_COMMENT = re.compile(r"(?<!\\)%")  # in an exported field a % is a percent sign, not a LaTeX comment
_URL_COMMAND = re.compile(r"\\url\{([^}]*)\}")
_CRUDE = re.compile(r"\\([&%$#_{}])|\\[a-zA-Z]+\*?|\\.|[{}]")  # an escaped character stays, markup goes
_CIRCUMFLEX = re.compile(r"\\textasciicircum(?![a-zA-Z])\s*(?:\{\})?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_YEAR = re.compile(r"(?<!\d)([12]\d{3})(?!\d)")
# BibLaTeX's types in BibTeX's words, so an export can be read by either
_TYPES = {"conference": "inproceedings", "online": "misc", "electronic": "misc", "www": "misc", "software": "misc",
          "dataset": "misc", "thesis": "phdthesis", "report": "techreport"}
_VENUE_FIELDS = ("journal", "journaltitle", "booktitle", "eventtitle", "school", "institution")


@lru_cache(maxsize=1)
def _converter():
    """pylatexenc's converter, and the macro table its parser would otherwise build anew for every text."""
    from pylatexenc.latex2text import LatexNodes2Text
    from pylatexenc.latexwalker import get_default_latex_context_db

    return LatexNodes2Text(math_mode="text", strict_latex_spaces=True), get_default_latex_context_db()


def _crude(text: str) -> str:
    """Text from LaTeX that pylatexenc gave up on (braces nested too deeply): commands and braces dropped."""
    return _CRUDE.sub(lambda match: match.group(1) or "", text).replace("~", " ")


@lru_cache(maxsize=65536)  # the same islands come back: {Neural}, Sch{\\"o}lkopf, a journal's name
def _convert(text: str) -> str:
    if not _MARKUP.search(text):  # braces only, as {GPU}: what they protect is the text
        return text.replace("{", "").replace("}", "")
    converter, macros = _converter()
    try:
        return converter.latex_to_text(text, latex_context=macros)
    except RecursionError:
        return _crude(text)
    except Exception:  # noqa: BLE001 - pylatexenc is tolerant; whatever it still trips over costs the markup only
        log.debug("pylatexenc could not read %r", text[:80], exc_info=True)
        return _crude(text)


def _depth(word: str) -> int:
    """How many more braces `word` opens than it closes (escaped ones, \\{ and \\}, do not count)."""
    plain = word.replace("\\\\", "").replace("\\{", "").replace("\\}", "")
    return plain.count("{") - plain.count("}")


def _math(match: re.Match[str]) -> str:
    import unicodedata

    return re.sub(r"[\\{}$%&#~^_]", "", unicodedata.normalize("NFKC", _convert(f"${match.group(1)}$")))


def latex_to_text(value: str) -> str:
    """A field's LaTeX as plain text on one line. Inline math keeps its symbols (H$_2$O → H2O, $\\alpha$ → α).

    pylatexenc reads a character in about 10 µs: only the islands of LaTeX are given to it (a run of words from
    one holding a special character to where its braces close, at most ISLAND_CHARS), the plain words around
    them are kept as they are — a library of long abstracts reads in seconds, not minutes."""
    if not _SPECIAL.search(value):
        return " ".join(value.split())
    value = _COMMENT.sub(r"\\%", _MATH.sub(_math, _CIRCUMFLEX.sub("^", value)))  # pylatexenc gives ˆ for \\textasciicircum
    out: list[str] = []
    island: list[str] = []
    depth = size = 0
    for word in value.split():
        if not island and not _SPECIAL.search(word):
            out.append(word)
            continue
        island.append(word)
        depth, size = depth + _depth(word), size + len(word) + 1
        if depth <= 0 or size > ISLAND_CHARS:
            out.append(_crude(" ".join(island)) if size > ISLAND_CHARS else _convert(" ".join(island)))
            island, depth, size = [], 0, 0
    if island:
        out.append(_convert(" ".join(island)))
    return " ".join(_SURROGATE.sub("", " ".join(out)).split())  # \\char"D800 gives one, which no store can write


def _names(value: str) -> list[str]:
    """"Vaswani, Ashish and M{\\"u}ller, J. and others" → ["Vaswani, Ashish", "Müller, J."] ("others" is et al.)."""
    from bibtexparser.middlewares.names import split_multiple_persons_names

    try:
        names = split_multiple_persons_names(value)
    except Exception:  # noqa: BLE001 - unbalanced braces in a name list: split it plainly
        names = re.split(r"\s+and\s+", value)
    cleaned = (latex_to_text(name) for name in names)
    return [name for name in cleaned if name and name.casefold() != "others"]


def _keywords(value: str) -> list[str]:
    words = latex_to_text(value)
    return [word.strip() for word in words.split(";" if ";" in words else ",") if word.strip()]


def _arxiv(fields: dict[str, str]) -> str | None:
    prefix = (fields.get("archiveprefix") or fields.get("eprinttype") or "").strip().lower()
    if fields.get("eprint") and prefix in ("", "arxiv"):
        if found := arxiv_id_of(fields["eprint"]):
            return found
    for name in ("arxivid", "arxiv"):
        if found := arxiv_id_of(fields.get(name)):
            return found
    for name in ("url", "journal", "note", "howpublished", "doi"):  # Google Scholar: "arXiv preprint arXiv:2307.09288"
        if "arxiv" in fields.get(name, "").lower() and (found := arxiv_id_of(fields[name])):
            return found
    return None


def entry_to_paper(entry_type: str, fields: dict[str, str], source: str) -> Paper:
    """One entry's fields (lower-case names, values with their outer braces removed) to a Paper; a ValueError
    says what is wrong with it."""
    title = latex_to_text(fields.get("title", ""))
    if not title:
        raise ValueError("no title" if not fields.get("title", "").strip() else "a title with no text once its LaTeX is removed")
    if len(title) > MAX_TITLE_CHARS:
        raise ValueError(f"a {len(title):,}-character title is too long; is the abstract in the 'title' field?")
    url = fields.get("url", "").strip() or None
    if url is None and (link := _URL_COMMAND.search(fields.get("howpublished", ""))):
        url = link.group(1).strip() or None
    doi = doi_of(fields.get("doi")) or (doi_of(url) if url and "doi.org/" in url else None)
    arxiv = _arxiv(fields)
    year = _YEAR.search(fields.get("year", "") or fields.get("date", ""))
    venue = next((text for name in _VENUE_FIELDS if (text := latex_to_text(fields.get(name, "")))), None)
    kind = entry_type.lower()
    return Paper(
        paper_id=paper_id_for(title, doi=doi, url=url, arxiv=arxiv),
        title=title,
        abstract=latex_to_text(fields.get("abstract", "")),
        year=int(year.group(1)) if year else None,
        date=fields.get("date", "").strip() or None,
        authors=_names(fields.get("author", "")),
        url=url,
        doi=doi,
        source=source,
        venue=venue,
        arxiv_id=arxiv,
        keywords=_keywords(fields.get("keywords", "")),
        entry_type=_TYPES.get(kind, kind) or None,
    )


def _library(document: str):
    """bibtexparser's blocks of `document`. Its splitter gives up on an input it was not built for only by
    raising: then each entry is split off at its '@' and read alone, so that the bad one costs only itself."""
    import bibtexparser

    try:
        return list(bibtexparser.parse_string(document).blocks), []
    except Exception:  # noqa: BLE001 - ParserStateException and bugs alike: read entry by entry
        log.debug("bibtexparser failed on the whole file; reading entry by entry", exc_info=True)
    blocks, failed = [], []
    starts = [match.start() for match in _ENTRY_START.finditer(document)]
    for start, end in zip(starts, [*starts[1:], len(document)]):
        offset = document.count("\n", 0, start)
        try:
            for block in bibtexparser.parse_string(document[start:end]).blocks:
                block._start_line_in_file = (block.start_line or 0) + offset
                blocks.append(block)
        except Exception as exc:  # noqa: BLE001
            failed.append((offset + 1, f"unreadable BibTeX entry ({type(exc).__name__}); check its braces and quotes"))
    return blocks, failed


def _failure(block) -> str:
    reason = getattr(block.error, "abort_reason", "") or str(block.error)
    head = (block.raw or "").strip().split("\n")[0][:60]
    return f"unreadable BibTeX entry {head!r}: {' '.join(reason.split())[:200] or 'check its braces and quotes'}"


def parse_bibtex(path: Path) -> ParseResult:
    from bibtexparser.model import DuplicateBlockKeyBlock, Entry, ParsingFailedBlock

    text = read_lines(path)
    result = ParseResult()
    blocks, failed = _library("\n".join(text.lines))
    result.problems += [text.problem(line, reason) for line, reason in failed]
    for block in blocks:
        first = (block.start_line or 0) + 1
        last = first + (block.raw or "").rstrip("\n").count("\n")
        duplicate = isinstance(block, DuplicateBlockKeyBlock)
        if duplicate:  # the same key twice: read it too (one paper twice is merged, two papers are two)
            block = block.ignore_error_block
        elif isinstance(block, ParsingFailedBlock):
            result.problems.append(text.first_bad(first, last) or text.problem(first, _failure(block)))
            continue
        if not isinstance(block, Entry):
            continue  # @string, @preamble, @comment and the free text between entries
        _collect(result, text, first, last, block, enclosed=duplicate)
    if not result.papers and not result.problems and any(line.strip() for line in text.lines):
        result.problems.append(text.problem(1, "no BibTeX entries in it; an entry starts with @article{key, …"))
    result.problems = whole_file_verdict(result.problems, text, len(result.papers))
    return result


def _unenclosed(value: str) -> str:
    """A value without its outer {…} or "…" (bibtexparser leaves them on an entry whose key was taken)."""
    if len(value) >= 2 and (value[0], value[-1]) in (("{", "}"), ('"', '"')):
        return value[1:-1]
    return value


def _collect(result: ParseResult, text: Lines, first: int, last: int, entry, enclosed: bool = False) -> None:
    label = f"entry {entry.key!r}"
    if bad := text.first_bad(first, last):
        result.problems.append(Problem(bad.source, bad.location, f"{label}: {bad.reason}"))
        return
    fields = {field.key.lower(): _unenclosed(str(field.value)) if enclosed else str(field.value) for field in entry.fields}
    try:
        paper = entry_to_paper(entry.entry_type, fields, text.path.name)
    except ValueError as exc:
        result.problems.append(text.problem(first, f"{label}: {exc}"))
        return
    paper.citation_key, paper.attachments = entry.key, pdf_names(fields.get("file", ""))  # to find its PDF
    if not paper.abstract:
        result.problems.append(text.problem(first, f"{label}: {NO_ABSTRACT}"))
    result.add(paper, str(text.path), f"line {first}")


"""PDF papers, full text, page by page: read by a llama-index reader (`integrations.llama_index.PDFPageReader`,
pypdf underneath) and turned into a paper as any llama-index documents are (`papers_from_documents`).

Title, authors and date come from the PDF's own metadata where it gives them (a title such as "untitled",
"about:blank" — a browser's print of a page without one — or "Microsoft Word - draft.docx" is no title), else the
title is the first page's first line; a DOI in the metadata or after "doi:" / doi.org on the first page and an arXiv
stamp on it ("arXiv:2401.01234v2 [cs.CL] …") are kept, so that the PDF of a paper already stored from a .bib or a
listing finds it (by DOI, arXiv id or title); one ingested with its entry finds it by more (`matching`).
A PDF with no text layer (a scan) or one that pypdf cannot read is a problem for its file, with the fix.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..types import arxiv_id_of, doi_of
from . import ParseResult
from .reading import Unreadable

log = logging.getLogger(__name__)

NO_TEXT = ("no text layer (a scanned or image-only PDF), so there is nothing to search; run OCR on it first, "
           "e.g. `ocrmypdf {name} {stem}-ocr.pdf`, then ingest {stem}-ocr.pdf")
UNREADABLE = ("not a readable PDF ({why}); the file is damaged or cut short (an interrupted download?) — "
              "download or export it again")
NOT_PDF = ("not a PDF: it does not begin with %PDF- (a web page or another file saved under a .pdf name?); "
           "download the paper's PDF itself")
ENCRYPTED = "an encrypted PDF; save a copy without the password (e.g. `qpdf --decrypt {name} {stem}-open.pdf`) and ingest that"
_DOI_ON_PAGE = re.compile(r"(?:doi:\s*|doi\.org/)(10\.\d{4,9}/[^\s,;]+)", re.I)
_ARXIV_STAMP = re.compile(r"arXiv:(\d{4}\.\d{4,5})(?:v\d+)?\s*\[", re.I)


def parse_pdf(path: Path) -> ParseResult:
    """The PDF as one paper whose pages are its text; raises Unreadable (with the fix) for a PDF that has no
    text layer, is encrypted, or cannot be read."""
    from ..integrations.llama_index import papers_from_documents, read_pdf

    try:
        with path.open("rb") as file:
            head = file.read(1024)
    except OSError as exc:
        raise Unreadable(f"cannot open it: {exc.strerror or exc}; check its permissions") from None
    if b"%PDF-" not in head:
        raise Unreadable(NOT_PDF)
    try:
        documents = read_pdf(path)
    except Exception as exc:  # pypdf's errors for damaged files are many (PdfReadError, ValueError, KeyError …)
        if "decrypt" in f"{type(exc).__name__} {exc}".lower():
            raise Unreadable(ENCRYPTED.format(name=path.name, stem=path.stem)) from None
        log.debug("pypdf could not read %s", path, exc_info=True)
        raise Unreadable(UNREADABLE.format(why=f"{type(exc).__name__}: {exc}"[:200])) from None
    if not any(document.text.strip() for document in documents):
        raise Unreadable(NO_TEXT.format(name=path.name, stem=path.stem))
    first, info = documents[0].text, {}
    if "doi" not in documents[0].metadata:
        match = _DOI_ON_PAGE.search(first)
        if match:
            info["doi"] = doi_of(match.group(1))
    stamp = _ARXIV_STAMP.search(first)
    if stamp:
        info["arxiv_id"] = arxiv_id_of(stamp.group(1))
    for document in documents:
        document.metadata.update(info)
    papers, problems = papers_from_documents(documents)
    result = ParseResult(problems=[*problems])
    for paper in papers:
        paper.source = str(path)
        result.add(paper, str(path), "file")
    return result

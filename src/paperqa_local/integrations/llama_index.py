"""llama-index both ways: its documents in, this index out.

In: `papers_from_documents` turns llama-index `Document`s (any reader's output: one per page of a PDF, one per
text file) into papers, one per file, mapping their metadata (title, authors, year, doi, url, page_label) to
`Paper` fields; `PDFPageReader` is a llama-index reader of PDFs (pypdf underneath), one document per page;
`split_pages` is llama-index's `SentenceSplitter`, run page by page, so that every chunk of a full text knows its page.

Out: `PaperRetriever`, a `BaseRetriever` (hybrid search, one node per paper, fused scores), and `PaperQueryEngine`,
a `BaseQueryEngine` whose `Response` is the verified answer with its cited papers as source nodes — usable as a
`QueryEngineTool` in an agent. Both call the `PaperQA` facade they are given; nothing else here knows the index.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.readers.base import BaseReader
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import Document, NodeWithScore, QueryBundle, TextNode

from ..types import Answer, Citation, Paper, Problem, SearchHit, arxiv_id_of, doi_of, paper_id_for

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'])")  # text.split_sentences' boundary
_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=[a-z])")  # "retrie-\nval": one word broken across two lines
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")
_NO_TITLE = re.compile(r"^(untitled|title|document\d*|about:blank)$|\.(pdf|docx?|tex|dvi|ps|rtf|odt)$|^microsoft (word|powerpoint) - ", re.I)
_NOT_A_TITLE = ("arxiv:", "published as", "preprint", "under review", "proceedings of", "accepted", "copyright")


# documents in
def clean_page(text: str) -> str:
    """A PDF page's text as prose: words hyphenated across a line break joined, white space collapsed."""
    return " ".join(_HYPHEN_BREAK.sub(r"\1", text or "").split())


def _sentences(text: str) -> list[str]:
    """Sentences at split_sentences' boundaries, each keeping its trailing space so that they join back as they
    were. (SentenceSplitter's default, NLTK's punkt, checks for its data at first use and would try to download.)"""
    cuts = [match.end() for match in _SENTENCE_END.finditer(text)]
    return [text[start:end] for start, end in zip([0, *cuts], [*cuts, len(text)]) if text[start:end]]


def split_pages(pages: list[tuple[int, str]], max_chars: int) -> list[tuple[int, str]]:
    """(page, chunk text) of a full text: llama-index's SentenceSplitter over one document per page (sizes in
    characters, no overlap), so no chunk straddles two pages and each keeps the page it came from."""
    splitter = SentenceSplitter(chunk_size=max_chars, chunk_overlap=0, tokenizer=list, chunking_tokenizer_fn=_sentences,
                                include_prev_next_rel=False)
    # the page is carried to each chunk, and kept out of the text the splitter measures
    documents = [Document(text=text, metadata={"page": page}, excluded_embed_metadata_keys=["page"],
                          excluded_llm_metadata_keys=["page"]) for page, text in pages if text.strip()]
    nodes = splitter.get_nodes_from_documents(documents)
    return [(node.metadata["page"], " ".join(node.get_content().split())) for node in nodes if node.get_content().strip()]


class PDFPageReader(BaseReader):
    """A llama-index reader of PDFs, one `Document` per page, as llama-index-readers-file's PDFReader (whose pins,
    pandas<3 and pypdf<7, this environment's pandas 3 does not meet): text by pypdf; metadata page (1-based),
    page_label, file_name, file_path, and the PDF's own title, author and date where it gives them.
    Works in `SimpleDirectoryReader(..., file_extractor={".pdf": PDFPageReader()})`."""

    def load_data(self, file: Path | str, extra_info: dict | None = None, fs=None) -> list[Document]:
        from pypdf import PdfReader

        reader = PdfReader(fs.open(str(file), "rb") if fs is not None else str(file))
        info = pdf_info(reader)
        labels = reader.page_labels
        documents = []
        for index, page in enumerate(reader.pages):
            meta = {**info, **(extra_info or {}), "page": index + 1,
                    "page_label": labels[index] if index < len(labels) else str(index + 1),
                    "file_name": Path(str(file)).name, "file_path": str(file)}
            documents.append(Document(text=page.extract_text() or "", metadata=meta))
        return documents


def pdf_info(reader) -> dict[str, Any]:
    """A PDF's document information as document metadata: title (unless it is a placeholder such as "untitled"
    or "Microsoft Word - draft.docx"), author, date (its creation date) and a DOI."""
    info = reader.metadata or {}
    meta: dict[str, Any] = {}
    title = " ".join(str(info.get("/Title") or "").split())
    if title and not _NO_TITLE.search(title):
        meta["title"] = title
    if str(info.get("/Author") or "").strip():
        meta["author"] = str(info["/Author"]).strip()
    try:
        created = getattr(info, "creation_date", None)
    except (ValueError, TypeError):  # a malformed date string is no date
        created = None
    if created:
        meta["date"] = created.date()
    doi = doi_of(str(info.get("/doi") or info.get("/DOI") or ""))
    if doi:
        meta["doi"] = doi
    return meta


def read_pdf(path: Path) -> list[Document]:
    """The PDF's pages as documents (`PDFPageReader`); pypdf's own error for a file it cannot read."""
    return PDFPageReader().load_data(Path(path))


def guess_title(text: str) -> str | None:
    """A first page's title: its first line of at least two words that is not an arXiv stamp or a venue's header."""
    for line in (text or "").splitlines()[:20]:
        line = " ".join(line.split())
        if len(re.findall(r"[^\W\d_]{2,}", line)) >= 2 and len(line) <= 250 and not line.lower().startswith(_NOT_A_TITLE):
            return line
    return None


def _names(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(name).strip() for name in value if str(name).strip()]
    text = str(value or "").strip()
    for separator in (";", " and ", ","):
        if separator in text:
            return [name.strip() for name in text.split(separator) if name.strip()]
    return [text] if text else []


def _year(value: Any) -> int | None:
    if isinstance(value, (date, datetime)):
        return value.year
    if isinstance(value, int) and 1000 < value < 3000:
        return value
    match = _YEAR.search(str(value or ""))
    return int(match.group(1)) if match else None


def _page(meta: dict[str, Any], index: int) -> int:
    """A document's page: its `page`, else a numeric `page_label`, else its place among its file's documents."""
    for value in (meta.get("page"), meta.get("page_label")):
        if isinstance(value, int) and value > 0:
            return value
        if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
            return int(value)
    return index + 1


def papers_from_documents(documents: list[Document]) -> tuple[list[Paper], list[Problem]]:
    """One paper per file (the documents sharing a `file_path` or `file_name`, or a `paper_id`), else one per
    document. Documents with a `page` or `page_label` are a full text's pages: its chunks will keep their page."""
    groups: dict[Any, list[Document]] = {}
    for n, document in enumerate(documents):
        meta = document.metadata or {}
        key = meta.get("file_path") or meta.get("file_name") or meta.get("paper_id") or ("#", n)
        groups.setdefault(key, []).append(document)
    papers, problems = [], []
    for key, group in groups.items():
        meta = group[0].metadata or {}
        source = str(key) if not isinstance(key, tuple) else f"document {key[1] + 1}"
        paged = any("page" in (d.metadata or {}) or "page_label" in (d.metadata or {}) for d in group)
        if paged:
            pages = [(_page(d.metadata, i), clean_page(d.text)) for i, d in enumerate(group)]
            pages = [(page, text) for page, text in pages if text]
            text = " ".join(text for _, text in pages)
        else:
            pages, text = [], " ".join(" ".join(d.text.split()) for d in group if d.text)
        if not text:
            problems.append(Problem(source, "document", "no text in it; give documents with text"))
            continue
        title = " ".join(str(meta.get("title") or "").split()) or guess_title(group[0].text) \
            or Path(str(meta.get("file_name") or source)).stem
        when = meta.get("year") or meta.get("date") or meta.get("publication_date")  # a reader's creation_date is the file's
        doi, url = doi_of(str(meta.get("doi") or "")), meta.get("url") or None
        arxiv = arxiv_id_of(str(meta.get("arxiv_id") or "")) or None
        papers.append(Paper(
            paper_id_for(title, doi=doi, url=url, given=meta.get("paper_id"), arxiv=arxiv), title, text,
            year=_year(when), date=when.isoformat()[:10] if isinstance(when, (date, datetime)) else None,
            authors=_names(meta.get("authors") or meta.get("author")), url=url, doi=doi,
            source=str(meta.get("file_path") or meta.get("file_name") or "") or None,
            venue=meta.get("venue") or meta.get("journal") or None, arxiv_id=arxiv, pages=pages))
    return papers, problems


# this index out
def _node(node_id: str, text: str, citation: Citation) -> TextNode:
    """A node with a paper's reference fields as metadata (unknown ones left out)."""
    meta = {"paper_id": citation.paper_id, "title": citation.title, "year": citation.year, "page": citation.page,
            "authors": "; ".join(citation.authors) or None, "byline": citation.byline, "venue": citation.venue,
            "doi": citation.doi, "arxiv_id": citation.arxiv_id, "link": citation.link}
    return TextNode(id_=node_id, text=text, metadata={key: value for key, value in meta.items() if value is not None})


def hit_node(hit: SearchHit) -> NodeWithScore:
    """A search hit as llama-index's node: its best chunk's text, with the page that chunk is on."""
    citation = Citation.of(0, hit, [], hit.score)
    citation.page = hit.page
    return NodeWithScore(node=_node(f"{hit.paper_id}#{hit.metadata.get('position', 0)}", hit.text, citation), score=hit.score)


def response_of(answer: Answer) -> Response:
    """The verified answer as llama-index's `Response`: its text, and one source node per cited paper in citation
    order (text: the sentences that support the answer; metadata: the reference and `key`, the [n] of the text)."""
    nodes = []
    for citation in answer.citations:
        node = _node(f"{citation.paper_id}[{citation.key}]", " ".join(citation.sentences) or citation.title, citation)
        node.metadata["key"] = citation.key
        nodes.append(NodeWithScore(node=node, score=citation.score))
    return Response(response=answer.text, source_nodes=nodes, metadata={
        "answerable": answer.answerable, "references": answer.references(), "verdict": answer.verdict,
        "uncited_sentences": answer.uncited_sentences, "timings": answer.timings})


class PaperRetriever(BaseRetriever):
    """This index's hybrid search as a llama-index retriever: one node per paper (its best chunk), best first,
    scored by the fused keyword + dense score."""

    def __init__(self, qa, k: int | None = None, year_from: int | None = None, year_to: int | None = None,
                 mode: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._qa, self._k, self._years, self._mode = qa, k, (year_from, year_to), mode

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self._qa.search(query_bundle.query_str, k=self._k, year_from=self._years[0], year_to=self._years[1],
                               mode=self._mode)
        return [hit_node(hit) for hit in hits]


class PaperQueryEngine(BaseQueryEngine):
    """`PaperQA.ask` as a llama-index query engine: the `Response` holds the verified answer (citation markers
    checked against the papers) and the cited papers as `source_nodes`, in citation order, with their pages."""

    def __init__(self, qa, k: int | None = None, year_from: int | None = None, year_to: int | None = None,
                 callback_manager=None):
        super().__init__(callback_manager)
        self._qa, self._k, self._years = qa, k, (year_from, year_to)

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}  # the prompts are paperqa-local's own (answer.py), not llama-index templates

    def _query(self, query_bundle: QueryBundle) -> Response:
        answer = self._qa.ask(query_bundle.query_str, k=self._k, year_from=self._years[0], year_to=self._years[1])
        return response_of(answer)

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return await asyncio.to_thread(self._query, query_bundle)  # the model runs in this process: off the loop

    def retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return PaperRetriever(self._qa, k=self._k, year_from=self._years[0], year_to=self._years[1]).retrieve(query_bundle)

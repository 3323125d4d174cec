"""The public facade: `PaperQA` ingests, searches, answers and checks claims. The CLI and the UI only call this."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import Settings, load_settings
from .embed import Embedder, get_embedder
from .ingest import IngestReport, RemoveReport, ingest_papers, ingest_paths, remove_files, remove_papers
from .memory import release_freed
from .retrieve import Retriever
from .store import Store
from .types import Answer, Paper, SearchHit, byline, link_for, page_of

log = logging.getLogger(__name__)

# evidence budgets, in prompt tokens (`PaperQA.evidence_budget`): the CPU one keeps an answer's time to first token
# a third of the llama-index baseline's on 2 cores (benchmarks/answer_speed.py); the GPU one fits 5 whole abstracts
CPU_EVIDENCE_TOKENS = 260
GPU_EVIDENCE_TOKENS = 3000


class PaperQA:
    """Ask questions over a local index of paper abstracts.

    >>> qa = PaperQA(data_dir="~/papers-index")
    >>> qa.ingest(["seeds/"])
    >>> print(qa.ask("Which paper recommends mitigation actions for unhealthy cloud nodes?").text)
    """

    def __init__(self, data_dir: str | Path | None = None, settings: Settings | None = None, embedder: Embedder | None = None,
                 llm=None, **overrides: Any):
        if settings is None:
            settings = load_settings(home=data_dir, **overrides)
        elif data_dir is not None or overrides:  # validated like any other settings (a bad k is an error)
            settings = load_settings(settings, home=Path(data_dir) if data_dir else None, **overrides)
        self.settings = settings
        self._embedder = embedder
        self._llm = llm
        self.store = Store(settings)
        self.retriever = Retriever(settings, self.store, lambda: self.embedder)
        self._listing = None  # (the store's state, `papers()`) as last read: a listing reads every chunk's metadata

    def _changed(self) -> None:
        """This object wrote to the store: what it holds of it is read again."""
        self.retriever.invalidate()
        self._listing = None

    # components, loaded on first use
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = get_embedder(s.embedding_model, s.embed_device, s.embed_batch_size)
        return self._embedder

    @property
    def llm(self):
        if self._llm is None:
            from .llm import load_llm

            self._llm = load_llm(self.settings)
        return self._llm

    def check_model(self) -> None:
        """Fail now, with the fix, when the configured model file is missing, even if this question would be
        declined without it."""
        if self._llm is None:
            from .models import resolve

            resolve(self.settings.model, self.settings.models_dir)

    def warm_up(self) -> None:
        """Load the embedder, the keyword index and the LLM now, so the first question does not wait for them."""
        self.search("warm up", k=1)
        self.llm

    def models(self) -> list[tuple[str, str]]:
        """(label, value) of every model this PaperQA can switch to: the presets first, then other GGUFs in models/."""
        from .models import BUNDLED, PRESETS, list_models

        rows = list_models(self.settings.models_dir)
        choices = []
        for preset, name in PRESETS.items():
            row = next((r for r in rows if r["name"] == name), None)
            missing = "" if row and row["present"] else " — not assembled yet"
            choices.append((f"{preset} ({row['about'] if row else name}){missing}", preset))
        choices += [(f"{row['name']} (local GGUF)", row["file"]) for row in rows if row["name"] not in BUNDLED]
        if self.settings.model not in {value for _, value in choices}:
            choices.append((self.settings.model, self.settings.model))
        return choices

    def answer_slots(self) -> int:
        """How many answers can be written at once: `llm_slots` per LLM server (`llm_base_url`), else one
        (in-process)."""
        urls = [url for url in (self.settings.llm_base_url or "").split(",") if url.strip()]
        return len(urls) * self.settings.llm_slots if urls else 1

    def use_model(self, model: str) -> None:
        """Switch the LLM (a preset, a file in models/, or a path); the old one is released. A model with no file
        raises the fix (ModelError) and nothing changes."""
        from .models import resolve

        resolve(model, self.settings.models_dir)
        if model != self.settings.model:
            self.settings = self.settings.model_copy(update={"model": model})
            self._llm = None

    # libraries: the collections of one data directory
    def collections(self) -> list[dict[str, Any]]:
        """The libraries (Chroma collections) stored in this data directory, or on this Chroma server, by name:
        [{"name": "papers", "papers": 39}, …]; this PaperQA's own is listed once it has been opened."""
        return [{"name": name, "papers": papers} for name, papers in self.store.collections().items()]

    def with_collection(self, name: str) -> PaperQA:
        """A PaperQA over another library of the same data directory, created empty when new, with every other
        setting of this one; it shares this one's embedder and LLM, so nothing is loaded again. A name Chroma
        refuses raises ConfigError, a library built with another embedding model StoreError, each with the fix."""
        from .config import check_collection_name
        from .errors import ConfigError

        try:
            check_collection_name(name)
        except ValueError as exc:
            raise ConfigError(f"{exc}, e.g. my-library") from None
        if name == self.settings.collection:
            return self
        other = PaperQA(settings=self.settings.model_copy(update={"collection": name}), embedder=self._embedder,
                        llm=self._llm)
        other.store.count()  # opened (or created) now: a refusal comes here, not at its first question
        return other

    # the index
    def ingest(self, paths: list[str | Path] | str | Path, progress=None) -> IngestReport:
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        report = ingest_paths(paths, self.store, self.embedder, progress)
        self._changed()
        return report

    def ingest_papers(self, papers: list[Paper], progress=None) -> IngestReport:
        report = ingest_papers(papers, self.store, self.embedder, progress)
        self._changed()
        return report

    def ingest_documents(self, documents: list, progress=None) -> IngestReport:
        """Ingest llama-index `Document`s (a reader's output): one paper per file, or per document; metadata title,
        authors, year, doi and url become the paper's; documents with a page or page_label are a full text's pages."""
        from .integrations.llama_index import papers_from_documents
        from .sources import deduplicate

        papers, problems = papers_from_documents(list(documents))
        papers, duplicates, conflicts = deduplicate(papers)
        report = IngestReport(parsed=len(papers) + duplicates, duplicates=duplicates, problems=problems + conflicts)
        ingest_papers(papers, self.store, self.embedder, progress, report)
        self._changed()
        return report

    def papers(self) -> list[dict[str, Any]]:
        """Every stored paper, sorted by title: id, title, year, authors, byline ("Vaswani et al."), venue, DOI,
        arXiv id, link, the file it came from, its chunks, and whether it has an abstract. Read again only when the
        store changed (a write here, or another process's: its count, keyword index or declared content)."""
        from .keyword_sync import state

        now = state(self.store)
        if self._listing is None or self._listing[0] != now or now.pending:
            self._listing = (now, self._read_papers())
        return [dict(record) for record in self._listing[1]]

    def _read_papers(self) -> list[dict[str, Any]]:
        stored = self.store.all(include_texts=False)
        first: dict[str, dict[str, Any]] = {}
        chunks: dict[str, int] = {}
        for meta in stored.metadatas:
            pid = meta["paper_id"]
            chunks[pid] = chunks.get(pid, 0) + 1
            if pid not in first or meta.get("position", 0) == 0:
                first[pid] = meta
        records = []
        for pid, meta in first.items():
            paper = Paper.from_metadata(meta)
            doi, arxiv = paper.doi_key(), paper.arxiv_key()
            records.append({
                "paper_id": pid, "title": paper.title, "year": paper.year, "authors": paper.authors,
                "byline": byline(paper.authors, paper.organisation), "venue": paper.venue, "doi": doi,
                "arxiv_id": arxiv, "link": link_for(doi, arxiv, paper.url), "source": paper.source,
                "chunks": chunks[pid], "abstract": not meta.get("no_abstract"),
            })
        return sorted(records, key=lambda record: (record["title"].casefold(), record["paper_id"]))

    def remove(self, paper_ids: list[str] | str) -> RemoveReport:
        """Remove papers by id (as `papers()` lists them) from the store and the keyword index. The report says
        which were removed and which ids the store does not hold."""
        report = remove_papers([paper_ids] if isinstance(paper_ids, str) else list(paper_ids), self.store)
        self._changed()
        return report

    def remove_files(self, paths: list[str | Path] | str | Path) -> RemoveReport:
        """Remove the papers that these input files hold (found by id, DOI, arXiv id or title, as ingest finds
        them); `not_stored` lists the files' papers that the store does not hold."""
        report = remove_files([paths] if isinstance(paths, (str, Path)) else list(paths), self.store)
        self._changed()
        return report

    def paper_vectors(self):
        """(chunk ids, vectors, metadatas) of everything stored: the corpus map draws them."""
        return self.store.embeddings()

    def relevance(self, query: str, hits: list[SearchHit]) -> float:
        """How well the best of `hits` answers `query`: what answering compares with `min_relevance` before it
        declines (the best similarity of a title or sentence of the evidence), computed the same way."""
        from .errors import PaperQAError
        from .evidence import select_evidence

        if not hits:
            return 0.0
        try:
            sources = select_evidence(self, query, hits[: self.settings.k], self.evidence_budget())
        except PaperQAError:
            return 0.0
        return max((source.relevance for source in sources), default=0.0)

    def answer_hits(self, question: str, k: int | None = None, year_from: int | None = None, year_to: int | None = None,
                    history=None, include_undated: bool = False) -> list[SearchHit]:
        """The papers an answer to `question` will read (found as `stream` finds them), e.g. to show them while
        the answer is being written."""
        from .followup import condense

        return self.search(condense(" ".join(question.split()), history), k=k, year_from=year_from, year_to=year_to,
                           include_undated=include_undated)

    def stats(self) -> dict[str, Any]:
        """Papers, chunks and papers per year, from the keyword index's summary (no chunk metadata read)."""
        summary = self.retriever.summary()
        return {
            "papers": summary["papers"],
            "chunks": summary["chunks"],
            "store": self.store.location(),
            "collection": self.settings.collection,
            "embedding_model": self.settings.embedding_model,
            "papers_per_year": dict(sorted(summary["papers_per_year"].items())),
        }

    def undated_count(self) -> int:
        """How many stored papers have no year: the papers a year filter hides unless `include_undated`."""
        return self.retriever.summary()["undated"]

    def reindex(self) -> dict[str, Any]:
        """Rebuild the keyword index from the whole store (trusting nothing saved), as one main segment; a store
        written before chunks carried their papers' lookup keys gets them, so later ingests stop reading it whole."""
        from .ingest import add_lookup_keys
        from .keyword_sync import sync_keyword_index

        started = time.perf_counter()
        with self.store.writing():
            keyed = add_lookup_keys(self.store)
            index = sync_keyword_index(self.store, force=True)
        self._changed()
        return {"chunks": index.count, "chunks_keyed": keyed, "seconds": round(time.perf_counter() - started, 3)}

    def paper_texts(self, paper_ids: list[str]) -> dict[str, str]:
        """Each paper's whole stored text."""
        return self.store.paper_texts(paper_ids)

    def paper_hits(self, paper_ids: list[str]) -> list[SearchHit]:
        """Stored papers as search hits (whole text, the best possible fused score), in the order asked."""
        found = self.store.papers(paper_ids)
        return [SearchHit(pid, found[pid][1].get("title", ""), 1.0, found[pid][0], found[pid][1].get("year"), found[pid][1])
                for pid in paper_ids if pid in found]

    def evidence_budget(self) -> int:
        """Prompt tokens of evidence per answer: `evidence_tokens`, else by where the LLM runs — on a GPU prompt
        reading is nearly free (whole abstracts of every source), on a CPU it is the cost of an answer."""
        if self.settings.evidence_tokens:
            return self.settings.evidence_tokens
        from .llm import pick_gpu_layers

        layers, _ = pick_gpu_layers(self.settings.n_gpu_layers)
        return GPU_EVIDENCE_TOKENS if layers != 0 else CPU_EVIDENCE_TOKENS

    def search(self, query: str, k: int | None = None, year_from: int | None = None, year_to: int | None = None,
               mode: str | None = None, include_undated: bool = False) -> list[SearchHit]:
        """The k best papers for `query`; with a year filter, papers without a year are left out unless
        `include_undated`."""
        return self.retriever.search(query, k=k, year_from=year_from, year_to=year_to, mode=mode,
                                     include_undated=include_undated)

    # llama-index
    def as_retriever(self, k: int | None = None, **options: Any):
        """This index's hybrid search as a llama-index `BaseRetriever`: `.retrieve("…")` gives one `NodeWithScore`
        per paper (its best chunk, metadata with title, year, page, link). Options: year_from, year_to, mode."""
        from .integrations.llama_index import PaperRetriever

        return PaperRetriever(self, k=k, **options)

    def as_query_engine(self, k: int | None = None, **options: Any):
        """`ask` as a llama-index `BaseQueryEngine` (usable as a `QueryEngineTool`): the `Response` is the verified
        answer, its `source_nodes` the cited papers in citation order. Options: year_from, year_to."""
        from .integrations.llama_index import PaperQueryEngine

        return PaperQueryEngine(self, k=k, **options)

    # answers
    def ask(self, question: str, **options: Any) -> Answer:
        answer = None
        for event in self.stream(question, **options):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(self, question: str, k: int | None = None, year_from: int | None = None, year_to: int | None = None,
               history: list[tuple[str, str]] | None = None, stop: threading.Event | None = None,
               include_undated: bool = False, hits: list[SearchHit] | None = None) -> Iterator[str | Answer]:
        """Tokens of the answer as they are written, then the final `Answer`. `hits`: the papers `answer_hits`
        already found for this question, so they are not searched for again."""
        from .answer import answer_stream

        self.check_model()
        for event in answer_stream(self, question, k=k, year_from=year_from, year_to=year_to, history=history,
                                   stop=stop, include_undated=include_undated, hits=hits):
            yield self._with_pages(event) if isinstance(event, Answer) else event
        release_freed()

    def _with_pages(self, answer: Answer) -> Answer:
        """Each citation of a full text gets the page of the chunk that holds its supporting sentence (evidence may
        come from any chunk of a short full text, not only the chunk that retrieval ranked first)."""
        hits = {hit.paper_id: hit for hit in answer.contexts}
        for citation in answer.citations:
            hit = hits.get(citation.paper_id)
            if citation.page is None and hit is not None and hit.metadata.get("pages"):
                ids = [f"{hit.paper_id}#{n}" for n in range(hit.metadata.get("chunks", 1))]  # ingest's chunk ids
                pieces = [(meta.get("page"), text) for text, meta in self.store.get(ids).values()]
                citation.page = page_of(citation.sentences or [hit.text], pieces) or hit.page
        return answer

    def check(self, claim: str, k: int | None = None, explain: bool = True) -> Answer:
        """Verdict on a claim (SUPPORTS / CONTRADICTS / NOT ENOUGH INFO) with the cited papers; `explain=False`
        skips the model's one-sentence reason (same verdict and cited source, faster)."""
        from .judge import check_claim

        self.check_model()
        try:
            return self._with_pages(check_claim(self, claim, k=k, explain=explain))
        finally:
            release_freed()

    def decide(self, question: str, k: int | None = None, explain: bool = True) -> Answer:
        """yes / no / maybe for a research question, with the cited papers (PubMedQA style)."""
        from .judge import decide

        self.check_model()
        try:
            return self._with_pages(decide(self, question, k=k, explain=explain))
        finally:
            release_freed()

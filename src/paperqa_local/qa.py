"""The public facade: `PaperQA` ingests, searches, answers and checks claims. The CLI and the UI only call this."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import Settings, load_settings
from .embed import Embedder, get_embedder
from .ingest import IngestReport, RemoveReport, ingest_papers, ingest_paths, remove_files, remove_papers
from .retrieve import Retriever
from .store import Store
from .types import Answer, Paper, SearchHit, byline, link_for

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

    def use_model(self, model: str) -> None:
        """Switch the LLM (a preset, a file in models/, or a path); the old one is released."""
        if model != self.settings.model:
            self.settings = self.settings.model_copy(update={"model": model})
            self._llm = None

    # the index
    def ingest(self, paths: list[str | Path] | str | Path, progress=None) -> IngestReport:
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        report = ingest_paths(paths, self.store, self.embedder, progress)
        self.retriever.invalidate()
        return report

    def ingest_papers(self, papers: list[Paper], progress=None) -> IngestReport:
        report = ingest_papers(papers, self.store, self.embedder, progress)
        self.retriever.invalidate()
        return report

    def papers(self) -> list[dict[str, Any]]:
        """Every stored paper, sorted by title: id, title, year, authors, byline ("Vaswani et al."), venue, DOI,
        arXiv id, link, the file it came from, its chunks, and whether it has an abstract."""
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
        self.retriever.invalidate()
        return report

    def remove_files(self, paths: list[str | Path] | str | Path) -> RemoveReport:
        """Remove the papers that these input files hold (found by id, DOI, arXiv id or title, as ingest finds
        them); `not_stored` lists the files' papers that the store does not hold."""
        report = remove_files([paths] if isinstance(paths, (str, Path)) else list(paths), self.store)
        self.retriever.invalidate()
        return report

    def stats(self) -> dict[str, Any]:
        stored = self.store.all(include_texts=False)
        papers = {meta["paper_id"] for meta in stored.metadatas}
        years: dict[int, int] = {}
        seen: set[str] = set()
        for meta in stored.metadatas:
            if meta["paper_id"] not in seen:
                seen.add(meta["paper_id"])
                if meta.get("year"):
                    years[meta["year"]] = years.get(meta["year"], 0) + 1
        return {
            "papers": len(papers),
            "chunks": len(stored.ids),
            "store": self.store.location(),
            "collection": self.settings.collection,
            "embedding_model": self.settings.embedding_model,
            "papers_per_year": dict(sorted(years.items())),
        }

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
               mode: str | None = None) -> list[SearchHit]:
        return self.retriever.search(query, k=k, year_from=year_from, year_to=year_to, mode=mode)

    # answers
    def ask(self, question: str, **options: Any) -> Answer:
        answer = None
        for event in self.stream(question, **options):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(self, question: str, k: int | None = None, year_from: int | None = None, year_to: int | None = None,
               history: list[tuple[str, str]] | None = None, stop: threading.Event | None = None) -> Iterator[str | Answer]:
        """Tokens of the answer as they are written, then the final `Answer`."""
        from .answer import answer_stream

        self.check_model()
        yield from answer_stream(self, question, k=k, year_from=year_from, year_to=year_to, history=history, stop=stop)

    def check(self, claim: str, k: int | None = None, explain: bool = True) -> Answer:
        """Verdict on a claim (SUPPORTS / CONTRADICTS / NOT ENOUGH INFO) with the cited papers; `explain=False`
        skips the model's one-sentence reason (same verdict and cited source, faster)."""
        from .judge import check_claim

        self.check_model()
        return check_claim(self, claim, k=k, explain=explain)

    def decide(self, question: str, k: int | None = None, explain: bool = True) -> Answer:
        """yes / no / maybe for a research question, with the cited papers (PubMedQA style)."""
        from .judge import decide

        self.check_model()
        return decide(self, question, k=k, explain=explain)

"""parse → dedupe → chunk → embed → store, idempotently: unchanged papers are never embedded twice; and removal.

Crash-safe: every chunk records its paper's content hash and chunk count, so a paper whose write a kill
interrupted (between two store batches, say) reads as incomplete and is written again by the next run; the
keyword index is marked pending, with the chunks the write touches, before the store is touched, and those
chunks are re-read from it after (`keyword_sync.py`). One writer at a time: the store's file lock is held for
the whole write. What the store holds of the papers given is looked up by their ids and keys (DOI, arXiv id,
normalised title: `Store.find_papers`), so adding a paper to a large store costs that paper, not the store.

A paper already stored — under its id, or under another id with the same DOI, arXiv id or normalised title —
is updated in place: what the new record gives replaces, what it lacks (an abstract, authors, a venue) is kept,
so a BibTeX entry without an abstract adds its venue and DOI to the paper a JSONL file gave, and takes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .embed import Embedder
from .keyword_sync import embedding_text, mark_pending, sync_keyword_index
from .sources import merge, parse_paths, title_key
from .sources.bibtex import NO_ABSTRACT
from .store import KEY_FIELDS, Store, StoredChunks
from .store_state import StoredPaper, paper_states
from .text import pack, split_sentences
from .types import Chunk, Paper, Problem

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass
class IngestReport:
    files: list[str] = field(default_factory=list)
    parsed: int = 0
    duplicates: int = 0
    new_papers: int = 0
    updated_papers: int = 0
    unchanged_papers: int = 0
    chunks_embedded: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "parsed": self.parsed,
            "duplicates": self.duplicates,
            "new_papers": self.new_papers,
            "updated_papers": self.updated_papers,
            "unchanged_papers": self.unchanged_papers,
            "chunks_embedded": self.chunks_embedded,
            "problems": [str(p) for p in self.problems],
            "seconds": round(self.seconds, 3),
        }


def content_hash(paper: Paper) -> str:
    """Everything stored of a paper: when it changes, the paper is written again."""
    pages = [[page for page, _ in paper.pages]] if paper.pages else []  # where a full text's pages begin
    return hashlib.sha1(json.dumps([paper.title, paper.abstract, paper.metadata(), *pages], sort_keys=True).encode()).hexdigest()


def text_hash(text: str) -> str:
    """A chunk's embedded text: when it is unchanged, its vector is reused (a renamed file re-embeds nothing)."""
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def chunk_paper(paper: Paper, max_chars: int) -> list[Chunk]:
    """An abstract is usually one chunk; a longer text splits on sentence boundaries. A paper listed without an
    abstract (a reference-manager entry) is one chunk, its title, so that it is found by its title. A full text
    (a PDF's pages) is split page by page by llama-index's SentenceSplitter: each chunk records its page."""
    if paper.pages:
        from .integrations.llama_index import split_pages

        pieces = split_pages(paper.pages, max_chars)
        return [Chunk(f"{paper.paper_id}#{n}", paper.paper_id, text, n, page) for n, (page, text) in enumerate(pieces)]
    text = paper.abstract or paper.title
    pieces = pack(split_sentences(text), max_chars) or [text]
    return [Chunk(f"{paper.paper_id}#{n}", paper.paper_id, piece, n) for n, piece in enumerate(pieces)]


class Faults:
    """Fault injection for the crash tests: `hook(point)` runs at each named point of a write (and may kill the
    process there). Points: "batch" after each store batch, "store-written" between the store and keyword writes."""

    hook: Callable[[str], None] | None = None

    @classmethod
    def at(cls, point: str) -> None:
        if cls.hook is not None:
            cls.hook(point)


@dataclass
class Plan:
    """The writes an ingest makes, in the order that keeps a crash detectable (`store.paper_states`): new or
    changed chunks first, then metadata of chunks whose text is unchanged, then chunks the paper no longer has."""

    embed: list[tuple[str, str, str, dict]] = field(default_factory=list)  # chunk id, chunk text, embedded text, metadata
    relabel: list[tuple[str, dict]] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.embed or self.relabel or self.stale)


def plan(papers: list[Paper], stored: dict[str, StoredPaper], max_chars: int, report: IngestReport) -> Plan:
    todo = Plan()
    for paper in papers:
        digest = content_hash(paper)
        old = stored.get(paper.paper_id)
        if old is not None and old.complete and old.content_hash == digest:
            report.unchanged_papers += 1
            continue
        if old is not None and old.complete:
            report.updated_papers += 1
        else:  # a paper whose last write a crash interrupted was never stored whole: it is new
            report.new_papers += 1
        chunks = chunk_paper(paper, max_chars)
        base = {**paper.metadata(), **lookup_keys(paper), "content_hash": digest, "chunks": len(chunks)}
        for chunk in chunks:
            text = embedding_text(paper.title, chunk.text)
            meta = {**base, "position": chunk.position, "text_hash": text_hash(text)}
            if chunk.page is not None:
                meta["page"] = chunk.page
            if old is not None and old.chunks.get(chunk.chunk_id) == meta["text_hash"]:
                todo.relabel.append((chunk.chunk_id, meta))
            else:
                todo.embed.append((chunk.chunk_id, chunk.text, text, meta))
        keep = {chunk.chunk_id for chunk in chunks}
        todo.stale += [cid for cid in (old.chunks if old else {}) if cid not in keep]
    return todo


class Stored:
    """What the store holds of each paper, and how a parsed paper finds its stored self: by id, DOI, arXiv id,
    then normalised title. Papers whose last write a crash cut short are not matched (they are written anew)."""

    def __init__(self, chunks: StoredChunks):
        self.states = paper_states(chunks.metadatas, chunks.ids)
        self.meta: dict[str, dict] = {}
        for meta in chunks.metadatas:
            if self.meta.get(meta["paper_id"], {}).get("position", 1) != 0:  # the first chunk's, else any
                self.meta[meta["paper_id"]] = meta
        self.keys: dict[tuple[str, str], str] = {}
        for pid in sorted(self.meta):
            if self.states[pid].complete:
                for key in self._keys(Paper.from_metadata(self.meta[pid])):
                    self.keys.setdefault(key, pid)

    @staticmethod
    def _keys(paper: Paper) -> list[tuple[str, str]]:
        found = [("doi", paper.doi_key()), ("arxiv", paper.arxiv_key()), ("title", title_key(paper.title))]
        return [(kind, value) for kind, value in found if value]

    def find(self, paper: Paper) -> str | None:
        """The stored paper that `paper` is, if any. Under an id of a source's own numbering a new title may be
        another paper: that one replaces the stored one whole, as it always did (None here)."""
        state = self.states.get(paper.paper_id)
        if state is not None:
            same = paper.paper_id.startswith(("doi:", "arxiv:")) or \
                title_key(paper.title) == title_key(self.meta[paper.paper_id].get("title", ""))
            return paper.paper_id if state.complete and same else None
        return next((self.keys[key] for key in self._keys(paper) if key in self.keys), None)

    def paper(self, paper_id: str) -> Paper:
        return Paper.from_metadata(self.meta[paper_id])


def lookup_keys(paper: Paper) -> dict[str, str]:
    """The chunk metadata that `stored_for` finds a paper by (the keys `Stored.find` matches)."""
    return {f"key_{kind}": value for kind, value in Stored._keys(paper)}


def stored_for(papers: list[Paper], store: Store) -> StoredChunks:
    """Every stored chunk of the papers that these papers may be: by id, then by DOI, arXiv id and normalised
    title. A store written before chunks carried their keys is read whole (as it always was)."""
    if not store.keyed():
        if store.count():
            return store.all(include_texts=False)
        store.set_keyed()  # empty: every chunk it will hold carries its keys
        return StoredChunks([], [], [])
    found = {paper.paper_id for paper in papers}
    wanted: dict[str, set[str]] = {field: set() for field in KEY_FIELDS}
    for paper in papers:
        for field, value in lookup_keys(paper).items():
            wanted[field].add(value)
    for field, values in wanted.items():
        found |= store.find_papers(field, list(values))
    return store.chunks_of(sorted(found))


def add_lookup_keys(store: Store) -> int:
    """Give every chunk of a store written before chunks carried their keys its paper's keys, once (`reindex`),
    so that later ingests look papers up instead of reading every chunk. How many chunks it updated."""
    if store.keyed():
        return 0
    stored = store.all(include_texts=False)
    metadatas = [{**meta, **lookup_keys(Paper.from_metadata(meta))} for meta in stored.metadatas]
    store.update_metadata(stored.ids, metadatas)
    store.set_keyed()
    return len(stored.ids)


def update_stored(papers: list[Paper], store: Store, stored: Stored) -> tuple[list[Paper], int]:
    """The papers as they will be written, and how many were merged into another: each one already stored
    takes the stored id and keeps what the new record lacks (see the module's docstring); two that are one
    stored paper become one. The papers given are not changed."""
    result: dict[str, Paper] = {}
    need_text: list[str] = []
    need_pages: list[str] = []  # stored full texts that a record without one updates: their text is kept
    merged = 0
    for paper in papers:
        target = stored.find(paper)
        paper = replace(paper, authors=list(paper.authors), keywords=list(paper.keywords), pages=list(paper.pages))
        if target is not None:
            old = stored.paper(target)
            paper.paper_id = target
            full_text = bool(stored.meta[target].get("pages"))
            if paper.pages and not full_text:  # a PDF of a listed paper: the listing's reference fields win
                merge(paper, old)  # (merge keeps the full text and takes the reference fields of a listing)
            elif full_text and not paper.pages:
                need_pages.append(target)
            for name in ("year", "date", "organisation", "url", "doi", "venue", "arxiv_id", "entry_type"):
                if getattr(paper, name) is None:
                    setattr(paper, name, getattr(old, name))
            if not paper.authors and paper.author_count is None:
                paper.authors, paper.author_count = old.authors, old.author_count
            paper.keywords = paper.keywords or old.keywords
            if not paper.abstract and not stored.meta[target].get("no_abstract") and not full_text:
                need_text.append(target)
        if paper.paper_id in result:
            merge(result[paper.paper_id], paper)
            merged += 1
        else:
            result[paper.paper_id] = paper
    texts = store.paper_texts(need_text) if need_text else {}
    for pid in need_text:
        if not result[pid].abstract:
            result[pid].abstract = texts.get(pid, "")
    for pid in need_pages:
        if not result[pid].pages:  # its stored chunks, as they are: re-split, each is itself (nothing re-embedded)
            chunks = sorted(store.get(list(stored.states[pid].chunks)).values(), key=lambda chunk: chunk[1].get("position", 0))
            result[pid].pages = [(meta.get("page") or 1, text) for text, meta in chunks]
            result[pid].abstract = " ".join(text for text, _ in chunks)
    return list(result.values()), merged


def ingest_papers(
    papers: list[Paper], store: Store, embedder: Embedder, progress: Progress | None = None, report: IngestReport | None = None
) -> IngestReport:
    """Write what changed, holding the store's write lock; unchanged papers cost a hash each."""
    report = report or IngestReport()
    started = time.perf_counter()
    with store.writing():
        stored = Stored(stored_for(papers, store))
        papers, merged = update_stored(papers, store, stored)
        report.duplicates += merged
        todo = plan(papers, stored.states, store.settings.chunk_chars, report)
        if todo:
            mark_pending(store, [cid for cid, *_ in todo.embed] + [cid for cid, _ in todo.relabel] + todo.stale)
            _write(todo, store, embedder, progress)
            report.chunks_embedded = len(todo.embed)
            Faults.at("store-written")
        sync_keyword_index(store, known={cid: text for cid, text, _, _ in todo.embed},
                           written={**{cid: meta for cid, _, _, meta in todo.embed}, **dict(todo.relabel)})
    report.seconds += time.perf_counter() - started
    return report


def _write(todo: Plan, store: Store, embedder: Embedder, progress: Progress | None) -> None:
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, len(todo.embed))

    if todo.embed:
        vectors = embedder.embed([text for _, _, text, _ in todo.embed], progress=advance)
        store.add([cid for cid, _, _, _ in todo.embed], [chunk for _, chunk, _, _ in todo.embed], vectors,
                  [meta for _, _, _, meta in todo.embed], after_batch=lambda: Faults.at("batch"))
    store.update_metadata([cid for cid, _ in todo.relabel], [meta for _, meta in todo.relabel])
    store.delete(todo.stale)


def ingest_paths(paths: list[str | Path], store: Store, embedder: Embedder, progress: Progress | None = None) -> IngestReport:
    started = time.perf_counter()
    parsed = parse_paths(paths)
    report = IngestReport(files=parsed.files, parsed=len(parsed.papers) + parsed.duplicates,
                          duplicates=parsed.duplicates, problems=parsed.problems)
    for problem in parsed.problems:
        log.info("input: %s", problem)  # the report carries every problem: its reader shows them once
    ingest_papers(parsed.papers, store, embedder, progress, report)
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class RemoveReport:
    removed: list[str] = field(default_factory=list)  # ids of the papers removed
    unknown: list[str] = field(default_factory=list)  # ids asked for that the store does not hold
    chunks: int = 0
    not_stored: list[str] = field(default_factory=list)  # `remove_files`: titles in the files that are not stored
    problems: list[Problem] = field(default_factory=list)  # `remove_files`: entries of the files that could not be read

    def to_dict(self) -> dict:
        return {"removed": self.removed, "unknown": self.unknown, "chunks": self.chunks,
                "not_stored": self.not_stored, "problems": [str(p) for p in self.problems]}


def remove_papers(paper_ids: list[str], store: Store, report: RemoveReport | None = None) -> RemoveReport:
    """Delete these papers' chunks, holding the store's write lock, and bring the keyword index in step, so that
    neither dense nor keyword search finds them again. Ids the store does not hold are reported, not an error."""
    report = report or RemoveReport()
    with store.writing():
        wanted = list(dict.fromkeys(paper_ids))
        states = store.paper_states(wanted)
        report.removed = [pid for pid in wanted if pid in states]
        report.unknown = [pid for pid in wanted if pid not in states]
        report.chunks = sum(len(states[pid].chunks) for pid in report.removed)
        if report.removed:
            mark_pending(store, [cid for pid in report.removed for cid in states[pid].chunks])
            store.delete_papers(report.removed)
            Faults.at("store-written")
        sync_keyword_index(store)
    return report


def remove_files(paths: list[str | Path], store: Store) -> RemoveReport:
    """Remove the papers of these input files: each paper they parse to, found in the store as ingest finds it
    (by id, DOI, arXiv id, then title)."""
    parsed = parse_paths(paths)
    stored = Stored(stored_for(parsed.papers, store))
    found = [(paper, stored.find(paper)) for paper in parsed.papers]
    problems = [problem for problem in parsed.problems if NO_ABSTRACT not in problem.reason]  # kept entries: no news here
    report = RemoveReport(problems=problems, not_stored=[paper.title for paper, pid in found if pid is None])
    return remove_papers([pid for _, pid in found if pid is not None], store, report)

"""parse → dedupe → chunk → embed → store, idempotently: unchanged papers are never embedded twice.

Crash-safe: every chunk records its paper's content hash and chunk count, so a paper whose write a kill
interrupted (between two store batches, say) reads as incomplete and is written again by the next run; the
keyword index is marked pending before the store is touched and rebuilt from it (`keyword_sync.py`).
One writer at a time: the store's file lock is held for the whole write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .embed import Embedder
from .keyword_sync import embedding_text, mark_pending, sync_keyword_index
from .sources import parse_paths
from .store import Store, StoredPaper
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
    return hashlib.sha1(json.dumps([paper.title, paper.abstract, paper.metadata()], sort_keys=True).encode()).hexdigest()


def text_hash(text: str) -> str:
    """A chunk's embedded text: when it is unchanged, its vector is reused (a renamed file re-embeds nothing)."""
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def chunk_paper(paper: Paper, max_chars: int) -> list[Chunk]:
    """An abstract is usually one chunk; a longer text splits on sentence boundaries."""
    pieces = pack(split_sentences(paper.abstract), max_chars) or [paper.abstract]
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
        base = {**paper.metadata(), "content_hash": digest, "chunks": len(chunks)}
        for chunk in chunks:
            text = embedding_text(paper.title, chunk.text)
            meta = {**base, "position": chunk.position, "text_hash": text_hash(text)}
            if old is not None and old.chunks.get(chunk.chunk_id) == meta["text_hash"]:
                todo.relabel.append((chunk.chunk_id, meta))
            else:
                todo.embed.append((chunk.chunk_id, chunk.text, text, meta))
        keep = {chunk.chunk_id for chunk in chunks}
        todo.stale += [cid for cid in (old.chunks if old else {}) if cid not in keep]
    return todo


def ingest_papers(
    papers: list[Paper], store: Store, embedder: Embedder, progress: Progress | None = None, report: IngestReport | None = None
) -> IngestReport:
    """Write what changed, holding the store's write lock; unchanged papers cost a hash each."""
    report = report or IngestReport()
    started = time.perf_counter()
    with store.writing():
        todo = plan(papers, store.paper_states(), store.settings.chunk_chars, report)
        if todo:
            mark_pending(store)
            _write(todo, store, embedder, progress)
            report.chunks_embedded = len(todo.embed)
            Faults.at("store-written")
        sync_keyword_index(store, force=bool(todo), known={cid: text for cid, text, _, _ in todo.embed})
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
        log.info("skipped %s", problem)  # the report carries every problem: its reader shows them once
    ingest_papers(parsed.papers, store, embedder, progress, report)
    report.seconds = time.perf_counter() - started
    return report

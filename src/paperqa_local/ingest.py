"""parse → dedupe → chunk → embed → store, idempotently: unchanged papers are never embedded twice.

Writes go in an order that loses nothing on a crash: new chunks are upserted before stale ones are
deleted, and the keyword index is rebuilt from the store (its sync marker catches a crash in between).
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
from .keyword import KeywordIndex
from .sources import parse_paths
from .store import Store
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
    return hashlib.sha1(json.dumps([paper.title, paper.abstract, paper.metadata()], sort_keys=True).encode()).hexdigest()


def chunk_paper(paper: Paper, max_chars: int) -> list[Chunk]:
    """An abstract is usually one chunk; a longer text splits on sentence boundaries."""
    pieces = pack(split_sentences(paper.abstract), max_chars) or [paper.abstract]
    return [Chunk(f"{paper.paper_id}#{n}", paper.paper_id, piece, n) for n, piece in enumerate(pieces)]


def embedding_text(title: str, chunk_text: str) -> str:
    """What is embedded and keyword-indexed: the title gives every chunk its topic."""
    return f"{title}. {chunk_text}" if title else chunk_text


def keyword_dir(store: Store) -> Path:
    return store.settings.store_dir() / f"bm25-{store.settings.collection}"


def sync_keyword_index(store: Store, force: bool = False, known: dict[str, str] | None = None) -> KeywordIndex:
    """The saved keyword index when it matches the store, else a fresh one built from the store and saved.

    `known` maps chunk ids to texts the caller already holds (the chunks it just wrote), which then need
    not be read back from the store.
    """
    known = known or {}
    stored = store.all(include_texts=False)
    if not force:
        index = KeywordIndex.load(keyword_dir(store), expected_ids=stored.ids)
        if index is not None:
            return index
    missing = [cid for cid in stored.ids if cid not in known]
    texts_of = {**store.get_texts(missing), **known} if missing else known
    texts = [embedding_text(meta.get("title", ""), texts_of[cid]) for cid, meta in zip(stored.ids, stored.metadatas)]
    index = KeywordIndex.build(stored.ids, texts, stored.metadatas)
    index.save(keyword_dir(store))
    return index


def ingest_papers(
    papers: list[Paper], store: Store, embedder: Embedder, progress: Progress | None = None, report: IngestReport | None = None
) -> IngestReport:
    report = report or IngestReport()
    started = time.perf_counter()
    stored = store.paper_hashes()
    todo: list[tuple[Paper, str]] = []
    for paper in papers:
        digest = content_hash(paper)
        if stored.get(paper.paper_id) == digest:
            report.unchanged_papers += 1
            continue
        if paper.paper_id in stored:
            report.updated_papers += 1
        else:
            report.new_papers += 1
        todo.append((paper, digest))

    chunks: list[tuple[Chunk, Paper, str]] = [
        (chunk, paper, digest) for paper, digest in todo for chunk in chunk_paper(paper, store.settings.chunk_chars)
    ]
    if chunks:
        texts = [embedding_text(paper.title, chunk.text) for chunk, paper, _ in chunks]
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, len(texts))

        vectors = embedder.embed(texts, progress=advance)
        metadatas = [
            {**paper.metadata(), "position": chunk.position, "content_hash": digest} for chunk, paper, digest in chunks
        ]
        store.add([chunk.chunk_id for chunk, _, _ in chunks], [chunk.text for chunk, _, _ in chunks], vectors, metadatas)
        _delete_stale_chunks(store, {paper.paper_id for paper, _ in todo}, {chunk.chunk_id for chunk, _, _ in chunks})
        report.chunks_embedded = len(chunks)
    sync_keyword_index(store, force=bool(chunks), known={chunk.chunk_id: chunk.text for chunk, _, _ in chunks})
    report.seconds += time.perf_counter() - started
    return report


def _delete_stale_chunks(store: Store, paper_ids: set[str], keep: set[str]) -> None:
    """Chunks of re-ingested papers that the new text no longer has (it got shorter)."""
    stored = store.all(include_texts=False)
    stale = [cid for cid, meta in zip(stored.ids, stored.metadatas) if meta["paper_id"] in paper_ids and cid not in keep]
    if stale:
        store.collection.delete(ids=stale)


def ingest_paths(paths: list[str | Path], store: Store, embedder: Embedder, progress: Progress | None = None) -> IngestReport:
    started = time.perf_counter()
    parsed = parse_paths(paths)
    report = IngestReport(files=parsed.files, parsed=len(parsed.papers) + parsed.duplicates,
                          duplicates=parsed.duplicates, problems=parsed.problems)
    for problem in parsed.problems:
        log.warning("skipped %s", problem)
    ingest_papers(parsed.papers, store, embedder, progress, report)
    report.seconds = time.perf_counter() - started
    return report

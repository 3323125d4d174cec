"""The BM25 keyword index, saved beside the Chroma store: a main segment, and a delta of what changed since.

Ingesting one paper tokenises that paper only: its chunks join a small delta segment, and the main segment's
rows they replace (or that were removed) are masked. A search scores both segments with the statistics of the
whole live corpus (`keyword_segment.py`), so it ranks as a full rebuild would. When the delta outgrows
`delta_limit` (or a tenth of main is masked), the two are merged into a new main segment, nothing tokenised again:
in the background, while searches and writes go on (`keyword_sync`), so that adding a paper never waits for it.

A sync marker ties the saved index to the store's content: a digest of every chunk's id, text hash and year,
the XOR of one hash per chunk, so that a change updates it with the chunks it touches instead of recomputing it.
How the index is kept in step with the store, across crashes and processes, is `keyword_sync.py`'s job.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .keyword_segment import Segment, tokenize

log = logging.getLogger(__name__)

MARKER = "paperqa_sync.json"  # the main segment's rows and its digest (written when main is rebuilt or merged)
DELTA = "paperqa_delta.json"  # the delta's rows and tokens, the removed ids, the whole digest: written on every change
VERSION = 2
K1, B = 1.5, 0.75  # bm25s's defaults (Lucene's BM25)


def chunk_hash(chunk_id: str, text_hash: str, year: int | None) -> int:
    return int.from_bytes(hashlib.sha1(f"{chunk_id}\t{text_hash}\t{year or 0}".encode()).digest()[:16], "big")


def content_digest(ids: list[str], metadatas: list[dict[str, Any]]) -> str:
    """What the index must agree with: each chunk's id, the hash of its text, and its year (the year filter)."""
    value = 0
    for cid, meta in zip(ids, metadatas):
        value ^= chunk_hash(cid, meta.get("text_hash", ""), meta.get("year"))
    return f"{value:032x}"


def delta_limit(main_rows: int) -> int:
    """Chunks the delta holds before it is merged (in the background: `keyword_sync`): 2% of main, between 1,000
    and 10,000 (a merge of 1M chunks takes tens of seconds; a larger delta makes every change re-save more)."""
    return min(10_000, max(1_000, main_rows // 50))


OVERDUE = 4  # a delta this many times over its limit is merged at once, by the writer (no background merge kept up)


@dataclass(frozen=True)
class Row:
    paper_id: str
    year: int
    text_hash: str
    first: bool  # the paper's first chunk: what `summary` counts papers by

    @classmethod
    def of(cls, meta: dict[str, Any]) -> Row:
        return cls(meta["paper_id"], meta.get("year") or 0, meta.get("text_hash", ""), meta.get("position", 0) == 0)


@dataclass
class Main:
    """The main segment and its rows; shared, never changed, by every index version built on it."""

    segment: Segment
    ids: list[str]
    paper_ids: list[str]
    years: np.ndarray
    hashes: list[str]
    first: np.ndarray
    digest: str
    saved_in: Path | None = None  # the folder whose files hold it: a save there need only write the delta

    @cached_property
    def position(self) -> dict[str, int]:
        return {cid: n for n, cid in enumerate(self.ids)}

    def row(self, n: int) -> Row:
        return Row(self.paper_ids[n], int(self.years[n]), self.hashes[n], bool(self.first[n]))

    @classmethod
    def build(cls, ids: list[str], rows: list[Row], tokens: list[list[str]], digest: str) -> Main:
        return cls(Segment.build(tokens), list(ids), [r.paper_id for r in rows], np.array([r.year for r in rows], dtype=np.int32),
                   [r.text_hash for r in rows], np.array([r.first for r in rows], dtype=bool), digest)

    def save(self, folder: Path) -> None:
        self.segment.save(folder)
        marker = {"version": VERSION, "count": len(self.ids), "content": self.digest, "ids": self.ids,
                  "paper_ids": self.paper_ids, "years": self.years.tolist(), "hashes": self.hashes,
                  "first": self.first.astype(int).tolist()}
        (folder / MARKER).write_text(json.dumps(marker))

    @classmethod
    def load(cls, folder: Path) -> Main:
        marker = json.loads((folder / MARKER).read_text())
        if marker.get("version") != VERSION:
            raise ValueError("it was saved by an older version")
        segment = Segment.load(folder)
        columns = [marker[key] for key in ("ids", "paper_ids", "years", "hashes", "first")]
        if any(len(column) != segment.rows for column in columns):
            raise ValueError("its postings and its marker disagree")
        ids, paper_ids, years, hashes, first = columns
        return cls(segment, ids, paper_ids, np.array(years, dtype=np.int32), hashes, np.array(first, dtype=bool),
                   marker["content"], folder)


class KeywordIndex:
    """BM25 over chunk texts; `search` returns (position in `slots`, score) pairs. Never changed once made
    (`update` returns a new one), so threads may search it at once without a lock."""

    def __init__(self, main: Main, delta: dict[str, tuple[Row, list[str]]], removed: frozenset[str], content: str):
        self.main, self.delta, self.removed, self.content = main, delta, removed, content
        self.delta_segment = Segment.build([tokens for _, tokens in delta.values()])
        self.slots = main.ids + list(delta)  # the chunk id of each position: main's rows (masked ones too), the delta's
        self.years = np.concatenate([main.years, np.array([row.year for row, _ in delta.values()], dtype=np.int32)])
        self.live = np.ones(len(main.ids), dtype=bool)
        masked = [main.position[cid] for cid in itertools.chain(removed, delta) if cid in main.position] if (removed or delta) else []
        self.live[masked] = False
        self.count = int(self.live.sum()) + len(delta)
        self.length = int(main.segment.lengths[self.live].sum()) + int(self.delta_segment.lengths.sum())

    @property
    def ids(self) -> list[str]:
        """The chunks it holds (not the masked rows)."""
        return [cid for n, cid in enumerate(self.main.ids) if self.live[n]] + list(self.delta)

    @classmethod
    def build(cls, ids: list[str], texts: list[str], metadatas: list[dict[str, Any]]) -> KeywordIndex:
        main = Main.build(ids, [Row.of(meta) for meta in metadatas], tokenize(texts), content_digest(ids, metadatas))
        return cls(main, {}, frozenset(), main.digest)

    def row(self, chunk_id: str) -> Row | None:
        if chunk_id in self.delta:
            return self.delta[chunk_id][0]
        n = self.main.position.get(chunk_id)
        return None if n is None or chunk_id in self.removed else self.main.row(n)

    def rows(self) -> dict[str, Row]:
        """Every live chunk's row (a full comparison with the store: `keyword_sync`)."""
        found = {cid: self.main.row(n) for n, cid in enumerate(self.main.ids) if self.live[n]}
        found.update((cid, row) for cid, (row, _) in self.delta.items())
        return found

    def update(self, upserts: list[tuple[str, str, dict[str, Any]]], removed: list[str]) -> KeywordIndex:
        """A new index with these chunks (id, text to index, metadata) added or replaced and these removed; only
        the upserted texts are tokenised."""
        delta, gone, value = dict(self.delta), set(self.removed), int(self.content, 16)
        for cid in {*removed, *(cid for cid, _, _ in upserts)}:
            old = self.row(cid)
            if old is not None:
                value ^= chunk_hash(cid, old.text_hash, old.year)
            delta.pop(cid, None)
            if cid in self.main.position:
                gone.add(cid)
        for (cid, _, meta), tokens in zip(upserts, tokenize([text for _, text, _ in upserts]) if upserts else []):
            row = Row.of(meta)
            delta[cid] = (row, tokens)
            gone.discard(cid)  # masked as a delta row, not as removed
            value ^= chunk_hash(cid, row.text_hash, row.year)
        index = KeywordIndex(self.main, delta, frozenset(gone), f"{value:032x}")
        return index.merged() if index.merge_due(OVERDUE) else index

    def merge_due(self, times: int = 1) -> bool:
        """Whether the delta outgrew `delta_limit` (or a tenth of main is masked), `times` over."""
        main = len(self.main.ids)
        return len(self.delta) > times * delta_limit(main) or len(self.removed) > times * max(1_000, main // 10)

    def merged(self) -> KeywordIndex:
        """Main's live rows and the delta, as one main segment (postings moved; nothing tokenised again)."""
        if not self.delta and not self.removed:
            return self
        keep = np.flatnonzero(self.live)
        rows = [self.main.row(n) for n in keep] + [row for row, _ in self.delta.values()]
        ids = [self.main.ids[n] for n in keep] + list(self.delta)
        main = Main(self.main.segment.merged(self.live, self.delta_segment), ids, [r.paper_id for r in rows],
                    np.array([r.year for r in rows], dtype=np.int32), [r.text_hash for r in rows],
                    np.array([r.first for r in rows], dtype=bool), self.content)
        log.info("keyword index: merged %d changed chunks into %d", len(self.delta), len(ids))
        return KeywordIndex(main, {}, frozenset(), self.content)

    def rebased(self, base: KeywordIndex, merged: KeywordIndex) -> KeywordIndex:
        """This index's content on `merged`'s main segment, where `merged` is `base` merged (in the background,
        while this index changed from `base`): what changed since `base` stays in the delta, nothing tokenised."""
        if base.main.digest != self.main.digest or merged.content != base.content:
            raise ValueError("the merge was made from another main segment")
        delta = {cid: entry for cid, entry in self.delta.items() if base.delta.get(cid) != entry}
        removed = {cid for cid in self.removed if cid in merged.main.position}
        removed.update(cid for cid in base.delta if cid not in self.delta)  # merged into main, removed since
        index = KeywordIndex(merged.main, delta, frozenset(removed), self.content)
        if index.count != self.count:
            raise ValueError(f"the rebased index holds {index.count} chunks, not {self.count}")
        return index

    def summary(self) -> dict[str, Any]:
        """Papers (by their first chunks), chunks, papers per year and undated papers, from the live rows."""
        years = np.concatenate([self.main.years[self.live & self.main.first],
                                np.array([row.year for row, _ in self.delta.values() if row.first], dtype=np.int32)])
        found, counts = np.unique(years, return_counts=True)
        per_year = {int(y): int(c) for y, c in zip(found, counts) if y}
        return {"papers": len(years), "chunks": self.count, "papers_per_year": per_year,
                "undated": int((years == 0).sum())}

    def save(self, folder: Path) -> None:
        """The delta alone when the saved main segment is this one's (a small file swapped in); else everything,
        written beside and then swapped in: a reader or a crash sees the old index or the new one, or none (then
        it is rebuilt), never a mix. Each save has its own temporary name, so two savers cannot collide."""
        if self.main.saved_in == folder and _saved_base(folder) == self.main.digest and (folder / MARKER).exists():
            tmp = Path(tempfile.mkstemp(prefix=DELTA + ".tmp-", dir=folder)[1])
            try:
                tmp.write_text(json.dumps(self._delta_record()))
                os.replace(tmp, folder / DELTA)
            finally:
                tmp.unlink(missing_ok=True)
            return
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp-", dir=folder.parent))
        try:
            self.main.save(tmp)
            (tmp / DELTA).write_text(json.dumps(self._delta_record()))
            old = folder.with_name(f"{folder.name}.old-{os.getpid()}")
            if folder.exists():
                folder.rename(old)
            tmp.rename(folder)
            self.main.saved_in = folder
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _delta_record(self) -> dict[str, Any]:
        rows = {cid: [row.paper_id, row.year, row.text_hash, row.first, tokens] for cid, (row, tokens) in self.delta.items()}
        return {"version": VERSION, "base": self.main.digest, "content": self.content, "count": self.count,
                "rows": rows, "removed": sorted(self.removed), "summary": self.summary()}

    @classmethod
    def load(cls, folder: Path, reuse: tuple[KeywordIndex | None, ...] = ()) -> KeywordIndex | None:
        """The saved index, or None when it is missing or damaged (a truncated marker, files missing: a copy or a
        disk that failed half-way) — the caller then rebuilds it. The main segment of one of `reuse` is kept when
        it is the saved one (only the delta is read). Whether it matches the store is the caller's check (`content`)."""
        if not (folder / MARKER).exists():
            return None
        try:
            for attempt in (1, 2):  # a save may swap the folder between reading the delta and the main segment
                delta = json.loads((folder / DELTA).read_text())
                main = next((index.main for index in reuse if index is not None and index.main.digest == delta["base"]),
                            None) or Main.load(folder)
                if main.digest == delta["base"]:
                    break
                if attempt == 2:
                    raise ValueError("its delta belongs to another main segment")
            rows = {cid: (Row(p, y, h, bool(f)), tokens) for cid, (p, y, h, f, tokens) in delta["rows"].items()}
            index = cls(main, rows, frozenset(delta["removed"]), delta["content"])
            if index.count != delta["count"]:
                raise ValueError("its delta and its main segment disagree")
            return index
        except (OSError, ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            log.warning("keyword index at %s is damaged (%s: %s); it is rebuilt from the store", folder, type(exc).__name__, exc)
            return None

    def search(self, query: str, n: int, year_from: int | None = None, year_to: int | None = None,
               include_undated: bool = False) -> list[tuple[int, float]]:
        """The n best chunks (position, score); a year filter drops chunks without a year (0) unless
        `include_undated`."""
        tokens = tokenize([query])[0] if self.count else []
        if not tokens:
            return []
        avgdl = self.length / self.count
        segments = [(self.main.segment, None if self.live.all() else self.live), (self.delta_segment, None)]
        found: list[list[tuple[np.ndarray, np.ndarray]]] = [[], []]
        for term in tokens:
            postings = []
            for segment, live in segments:
                hit = segment.postings(term)
                if hit is not None and live is not None:
                    keep = live[hit[0]]
                    hit = (hit[0][keep], hit[1][keep])
                postings.append(hit)
            df = sum(len(hit[0]) for hit in postings if hit is not None)
            if not df:
                continue
            idf = math.log(1 + (self.count - df + 0.5) / (df + 0.5))
            for part, (segment, _), hit in zip(found, segments, postings):
                if hit is not None and len(hit[0]):
                    tf = hit[1].astype(np.float64)
                    norm = K1 * ((1 - B) + B * segment.lengths[hit[0]] / avgdl)
                    part.append((hit[0], idf * tf / (tf + norm)))
        scores = np.concatenate([_sum(part, segment.rows) for part, (segment, _) in zip(found, segments)])
        if year_from or year_to:
            keep = np.ones(len(scores), dtype=bool)
            if year_from:
                keep &= self.years >= year_from
            if year_to:
                keep &= (self.years <= year_to) & (self.years > 0)
            if include_undated:
                keep |= self.years == 0
            scores[~keep] = 0.0
        hits = np.flatnonzero(scores > 0)
        if len(hits) > n:  # the n best, and any tied with the n-th
            hits = hits[scores[hits] >= -np.partition(-scores[hits], n - 1)[n - 1]]
        best = sorted(hits.tolist(), key=lambda i: (-scores[i], self.slots[i]))[:n]  # ties by id: the same in any layout
        return [(i, float(scores[i])) for i in best]


def _sum(parts: list[tuple[np.ndarray, np.ndarray]], rows: int) -> np.ndarray:
    if not parts:
        return np.zeros(rows)
    return np.bincount(np.concatenate([docs for docs, _ in parts]), weights=np.concatenate([s for _, s in parts]),
                       minlength=rows)


def _saved_base(folder: Path) -> str | None:
    try:
        return json.loads((folder / DELTA).read_text())["base"]
    except (OSError, ValueError, KeyError, TypeError):
        return None

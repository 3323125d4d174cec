"""Hybrid retrieval: BM25 and dense candidates, fused, then one entry per paper (its best chunk kept).

Fusion is a weighted sum of scores normalised per query (dense cosine over its candidates' range, BM25 over
its best score), which beat reciprocal-rank fusion on SciFact train claims (see README, Benchmarks).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from .config import Settings
from .embed import Embedder
from .keyword import KeywordIndex
from .keyword_sync import State, state, sync_keyword_index
from .keyword_sync import summary as saved_summary
from .store import Store
from .types import SearchHit

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    chunk_id: str
    dense: float | None = None
    keyword: float | None = None
    dense_rank: int | None = None
    keyword_rank: int | None = None


def year_filter(year_from: int | None, year_to: int | None) -> dict[str, Any] | None:
    clauses = []
    if year_from:
        clauses.append({"year": {"$gte": int(year_from)}})
    if year_to:
        clauses.append({"year": {"$lte": int(year_to)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _in_years(meta: dict[str, Any] | None, year_from: int | None, year_to: int | None) -> bool:
    """Whether a chunk passes the year filter with undated papers kept: its year is in range, or it has none."""
    year = (meta or {}).get("year") or 0
    return not year or ((not year_from or year >= int(year_from)) and (not year_to or year <= int(year_to)))


def _normalise(values: dict[str, float], floor: float | None = None) -> dict[str, float]:
    if not values:
        return {}
    top = max(values.values())
    low = min(values.values()) if floor is None else floor
    span = top - low
    return {key: (value - low) / span if span > 0 else 1.0 for key, value in values.items()}


class Retriever:
    def __init__(self, settings: Settings, store: Store, embedder_factory):
        self.settings = settings
        self.store = store
        self._embedder_factory = embedder_factory
        self._keyword: KeywordIndex | None = None
        self._keyword_state: State | None = None
        self._keyword_lock = threading.Lock()  # one refresh at a time when threads search at once

    @property
    def embedder(self) -> Embedder:
        return self._embedder_factory()

    def keyword_index(self) -> KeywordIndex:
        """The keyword index, checked against the store before each search: another process may have written to
        it (or crashed while writing), and keyword hits must never come from text the store no longer holds."""
        with self._keyword_lock:
            now = state(self.store)
            if self._keyword is None or now != self._keyword_state or now.pending:
                self._keyword = sync_keyword_index(self.store, current=self._keyword)
                self._keyword_state = state(self.store)
            return self._keyword

    def invalidate(self) -> None:
        self._keyword_state = None

    def summary(self) -> dict[str, Any]:
        """Papers, chunks, papers per year and undated papers of the store, from the keyword index: the one held
        when it is current, else the saved summary when that is, else the index brought in step."""
        with self._keyword_lock:
            held, now = self._keyword, state(self.store)
            if held is not None and now == self._keyword_state and not now.pending:
                return held.summary()
        saved = saved_summary(self.store)
        return saved if saved is not None else self.keyword_index().summary()

    def search(
        self,
        query: str,
        k: int | None = None,
        year_from: int | None = None,
        year_to: int | None = None,
        mode: str | None = None,
        query_vector=None,
        include_undated: bool = False,
    ) -> list[SearchHit]:
        """The k best papers; a year filter drops papers without a year unless `include_undated`."""
        k = k or self.settings.k
        mode = mode or self.settings.retrieval_mode
        if mode in ("hybrid", "dense") and query_vector is None:
            query_vector = self.embedder.embed_query(query)
        n = self.settings.candidates
        while True:  # a full text has many chunks: when they fill the candidates, fewer than k papers are left
            hits, more = self._search(query, k, n, year_from, year_to, mode, query_vector, include_undated)
            if len(hits) >= k or not more:
                return hits
            n *= 4

    def _search(self, query: str, k: int, n: int, year_from, year_to, mode: str, vector,
                include_undated: bool = False) -> tuple[list[SearchHit], bool]:
        """The best chunk of each of the k best papers among n candidates of each retriever, and whether either
        retriever had more than n to give (a wider search could then find more papers)."""
        candidates: dict[str, Candidate] = {}
        more = False
        if mode in ("hybrid", "dense"):
            where = year_filter(year_from, year_to)
            if where and include_undated:
                # Chroma's where-filter cannot match a missing year: ask without it, for more, and filter here
                nearest = self.store.query(vector, 4 * n, None, metadata=True)
                more = len(nearest) == 4 * n
                nearest = [row for row in nearest if _in_years(row[2], year_from, year_to)][:n]
            else:
                nearest = self.store.query(vector, n, where)
                more = len(nearest) == n
            for rank, (cid, sim, _) in enumerate(nearest):
                candidates[cid] = Candidate(cid, dense=sim, dense_rank=rank + 1)
        if mode in ("hybrid", "bm25"):
            index = self.keyword_index()
            found = index.search(query, n, year_from, year_to, include_undated)
            more = more or len(found) == n
            for rank, (position, score) in enumerate(found):
                cid = index.slots[position]
                cand = candidates.setdefault(cid, Candidate(cid))
                cand.keyword, cand.keyword_rank = score, rank + 1

        dense = _normalise({c.chunk_id: c.dense for c in candidates.values() if c.dense is not None})
        keyword = _normalise({c.chunk_id: c.keyword for c in candidates.values() if c.keyword is not None}, floor=0.0)
        weight = {"dense": 1.0, "bm25": 0.0}.get(mode, self.settings.dense_weight)
        fused = {cid: weight * dense.get(cid, 0.0) + (1 - weight) * keyword.get(cid, 0.0) for cid in candidates}

        chosen: dict[str, str] = {}  # paper id: its best chunk, for the k best papers (ingest's ids: paper_id#n)
        for cid in sorted(fused, key=fused.__getitem__, reverse=True):
            chosen.setdefault(cid.rsplit("#", 1)[0], cid)
            if len(chosen) == k:
                break
        stored = self.store.get(list(chosen.values())) if chosen else {}
        best: dict[str, SearchHit] = {}
        for paper_id, cid in chosen.items():
            if cid not in stored:  # removed between the search and this read
                continue
            text, meta = stored[cid]
            cand = candidates[cid]
            best[paper_id] = SearchHit(
                paper_id=meta.get("paper_id", paper_id),
                title=meta.get("title", ""),
                score=fused[cid],
                text=text or "",
                year=meta.get("year"),
                metadata=meta,
                dense_rank=cand.dense_rank,
                keyword_rank=cand.keyword_rank,
            )
        return list(best.values()), more

"""The BM25 keyword index (bm25s), saved beside the Chroma store and rebuilt whenever the store changes.

A sync marker ties the saved index to the store's content: a digest of every chunk's id, text hash and year.
When it disagrees with the store, as after a crash between the two writes or an abstract changed in place,
the index is rebuilt from the store, never trusted (`keyword_sync.py`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MARKER = "paperqa_sync.json"


def content_digest(ids: list[str], metadatas: list[dict[str, Any]]) -> str:
    """What the index must agree with: each chunk's id, the hash of its text, and its year (the year filter)."""
    lines = sorted(f"{cid}\t{meta.get('text_hash', '')}\t{meta.get('year') or 0}" for cid, meta in zip(ids, metadatas))
    return hashlib.sha1("\n".join(lines).encode()).hexdigest()


def _tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s
    import Stemmer

    stemmer = _stemmer(Stemmer)
    return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)


_STEMMER = None


def _stemmer(module):
    global _STEMMER
    if _STEMMER is None:
        _STEMMER = module.Stemmer("english")
    return _STEMMER


class KeywordIndex:
    """BM25 over chunk texts; `search` returns (chunk position, score) pairs."""

    def __init__(self, ids: list[str], metadatas: list[dict[str, Any]], retriever=None, content: str = ""):
        self.lock = threading.Lock()  # a bm25s retriever is not thread-safe: whoever searches it holds its lock
        self.ids = ids
        self.content = content  # content_digest of what it was built from
        self.paper_ids = [meta["paper_id"] for meta in metadatas]
        self.years = np.array([meta.get("year") or 0 for meta in metadatas], dtype=np.int32)
        self.retriever = retriever

    @classmethod
    def build(cls, ids: list[str], texts: list[str], metadatas: list[dict[str, Any]]) -> KeywordIndex:
        import bm25s

        index = cls(ids, metadatas, content=content_digest(ids, metadatas))
        if ids:
            index.retriever = bm25s.BM25()
            index.retriever.index(_tokenize(texts), show_progress=False)
        return index

    def save(self, folder: Path) -> None:
        """Written beside, then swapped in: a reader or a crash sees the old index or the new one, or none (then
        it is rebuilt), never a mix. Each save has its own temporary folder, so two savers cannot collide."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp-", dir=folder.parent))
        try:
            if self.retriever is not None:
                self.retriever.save(str(tmp), show_progress=False)
            marker = {"count": len(self.ids), "content": self.content, "ids": self.ids,
                      "paper_ids": self.paper_ids, "years": self.years.tolist()}
            (tmp / MARKER).write_text(json.dumps(marker))
            old = folder.with_name(f"{folder.name}.old-{os.getpid()}")
            if folder.exists():
                folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The saved index, or None when it is missing or damaged (a truncated marker, bm25s files missing: a copy
        or a disk that failed half-way) — the caller then rebuilds it. Whether it matches the store is the
        caller's check (`content`)."""
        import bm25s

        marker_path = folder / MARKER
        if not marker_path.exists():
            return None
        try:
            marker = json.loads(marker_path.read_text())
            rows = zip(marker["ids"], marker["paper_ids"], marker["years"], strict=True)
            metadatas = [{"paper_id": p, "year": y} for _, p, y in rows]
            retriever = bm25s.BM25.load(str(folder), show_progress=False) if marker["ids"] else None
            scores = retriever.scores if retriever is not None else {"num_docs": 0, "data": (), "indices": ()}
            if scores["num_docs"] != len(marker["ids"]) or len(scores["data"]) != len(scores["indices"]):
                raise ValueError("its bm25s arrays and its marker disagree")
            return cls(marker["ids"], metadatas, retriever, content=marker.get("content", ""))
        except (OSError, ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            log.warning("keyword index at %s is damaged (%s: %s); it is rebuilt from the store", folder, type(exc).__name__, exc)
            return None

    def search(self, query: str, n: int, year_from: int | None = None, year_to: int | None = None,
               include_undated: bool = False) -> list[tuple[int, float]]:
        """The n best chunks (position, score); a year filter drops chunks without a year (0) unless
        `include_undated`."""
        if self.retriever is None or not self.ids:
            return []
        tokens = _tokenize([query])
        if not tokens[0]:
            return []
        mask = None
        if year_from or year_to:
            keep = np.ones(len(self.ids), dtype=bool)
            if year_from:
                keep &= self.years >= year_from
            if year_to:
                keep &= (self.years <= year_to) & (self.years > 0)
            if include_undated:
                keep |= self.years == 0
            mask = keep.astype(np.float32)
            if not keep.any():
                return []
        try:
            with self.lock:
                docs, scores = self.retriever.retrieve(tokens, k=min(n, len(self.ids)), show_progress=False,
                                                       weight_mask=mask)
        except ValueError:  # no query term is in the vocabulary
            return []
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

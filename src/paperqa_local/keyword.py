"""The BM25 keyword index (bm25s), saved beside the Chroma store and rebuilt whenever the store changes.

A sync marker (chunk count and a digest of the chunk ids) ties the saved index to the store: when they
disagree, as after a crash between the two writes, the index is rebuilt from the store, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MARKER = "paperqa_sync.json"


def digest(ids: list[str]) -> str:
    return hashlib.sha1("\n".join(sorted(ids)).encode()).hexdigest()


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

    def __init__(self, ids: list[str], metadatas: list[dict[str, Any]], retriever=None):
        self.ids = ids
        self.paper_ids = [meta["paper_id"] for meta in metadatas]
        self.years = np.array([meta.get("year") or 0 for meta in metadatas], dtype=np.int32)
        self.retriever = retriever

    @classmethod
    def build(cls, ids: list[str], texts: list[str], metadatas: list[dict[str, Any]]) -> KeywordIndex:
        import bm25s

        index = cls(ids, metadatas)
        if ids:
            index.retriever = bm25s.BM25()
            index.retriever.index(_tokenize(texts), show_progress=False)
        return index

    def save(self, folder: Path) -> None:
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.retriever is not None:
            self.retriever.save(str(tmp), show_progress=False)
        marker = {"count": len(self.ids), "digest": digest(self.ids), "ids": self.ids,
                  "paper_ids": self.paper_ids, "years": self.years.tolist()}
        (tmp / MARKER).write_text(json.dumps(marker))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)

    @classmethod
    def load(cls, folder: Path, expected_ids: list[str] | None = None) -> KeywordIndex | None:
        """The saved index, or None when it is missing or out of sync with `expected_ids`."""
        import bm25s

        marker_path = folder / MARKER
        if not marker_path.exists():
            return None
        marker = json.loads(marker_path.read_text())
        if expected_ids is not None and (marker["count"] != len(expected_ids) or marker["digest"] != digest(expected_ids)):
            log.warning("keyword index at %s is out of sync with the store; rebuilding it", folder)
            return None
        metadatas = [{"paper_id": p, "year": y} for p, y in zip(marker["paper_ids"], marker["years"])]
        retriever = bm25s.BM25.load(str(folder), show_progress=False) if marker["ids"] else None
        return cls(marker["ids"], metadatas, retriever)

    def search(self, query: str, n: int, year_from: int | None = None, year_to: int | None = None) -> list[tuple[int, float]]:
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
            mask = keep.astype(np.float32)
            if not keep.any():
                return []
        try:
            docs, scores = self.retriever.retrieve(tokens, k=min(n, len(self.ids)), show_progress=False, weight_mask=mask)
        except ValueError:  # no query term is in the vocabulary
            return []
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

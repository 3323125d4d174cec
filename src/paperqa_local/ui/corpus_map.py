"""The Map tab's data: papers projected once per corpus version to 2-D (PCA of their mean chunk embedding);
each answer only recolours them."""

import threading
from typing import Any


MAP_POINTS = 5000  # a bigger corpus is sampled (evenly, deterministically); the last answer's papers always show


def project(vectors):
    """PCA to two dimensions, with a deterministic sign for each axis."""
    import numpy as np

    if len(vectors) < 3:
        return np.zeros((len(vectors), 2), dtype=np.float32)
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    axes *= np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])[:, None]
    return centred @ axes.T


class CorpusMap:
    """Papers projected once per corpus version; each answer only recolours them."""

    def __init__(self, qa):
        self.qa = qa
        self._rows: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._rows = None

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._rows is None:
                import numpy as np

                _, vectors, metadatas = self.qa.paper_vectors()
                papers: dict[str, list[int]] = {}
                for row, meta in enumerate(metadatas):
                    papers.setdefault(meta["paper_id"], []).append(row)
                ids = sorted(papers)
                first = {pid: metadatas[papers[pid][0]] for pid in ids}
                means = np.stack([vectors[papers[pid]].mean(axis=0) for pid in ids]) if ids else np.zeros((0, 2))
                xy = project(means)
                self._rows = [{"paper_id": pid, "title": first[pid].get("title", ""), "year": first[pid].get("year"),
                               "x": float(x), "y": float(y)} for pid, (x, y) in zip(ids, xy)]
            return self._rows

    def hits_titled(self, title: str) -> list:
        """The papers with this title (a map point's tooltip names its paper by title)."""
        ids = [row["paper_id"] for row in self.rows() if row["title"] == title]
        return self.qa.paper_hits(ids) if ids else []

    def frame(self, retrieved: list[str], cited: list[str]):
        import pandas as pd

        rows = self.rows()
        status = {pid: "retrieved" for pid in retrieved} | {pid: "cited" for pid in cited}
        step = max(1, len(rows) // MAP_POINTS)
        shown = [row for n, row in enumerate(rows) if n % step == 0 or row["paper_id"] in status]
        order = {"other": 0, "retrieved": 1, "cited": 2}  # highlights drawn last, on top
        data = [{"x": row["x"], "y": row["y"], "title": row["title"], "year": str(row["year"] or "unknown"),
                 "paper": status.get(row["paper_id"], "other")} for row in shown]
        data.sort(key=lambda row: order[row["paper"]])
        return pd.DataFrame(data, columns=["x", "y", "title", "year", "paper"])


def years_frame(qa):
    import pandas as pd

    per_year = qa.stats()["papers_per_year"]
    return pd.DataFrame({"year": [str(year) for year in per_year], "papers": list(per_year.values())})

"""What the store holds of each paper, read back from its chunks' metadata: the content hash, the chunks' text
hashes, and whether the paper's last write completed (a write interrupted by a crash leaves tell-tale gaps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StoredPaper:
    """What the store holds of one paper. A write interrupted by a crash leaves it incomplete: its chunks
    disagree on the paper's content hash, or fewer (or more) are stored than the paper has."""

    content_hash: str = ""
    chunks: dict[str, str] = field(default_factory=dict)  # chunk id -> hash of its embedded text
    complete: bool = True


def paper_states(metadatas: list[dict[str, Any]], ids: list[str]) -> dict[str, StoredPaper]:
    papers: dict[str, StoredPaper] = {}
    expected: dict[str, int | None] = {}
    positions: dict[str, set[int]] = {}
    for cid, meta in zip(ids, metadatas):
        pid = meta["paper_id"]
        paper = papers.get(pid)
        if paper is None:
            paper = papers[pid] = StoredPaper(meta.get("content_hash", ""))
            expected[pid] = meta.get("chunks")
        elif meta.get("content_hash", "") != paper.content_hash or meta.get("chunks") != expected[pid]:
            paper.complete = False
        paper.chunks[cid] = meta.get("text_hash", "")
        positions.setdefault(pid, set()).add(meta.get("position", 0))
    for pid, paper in papers.items():
        count = expected[pid]
        if count is not None and positions[pid] != set(range(count)):  # stores older than `chunks` are trusted
            paper.complete = False
    return papers

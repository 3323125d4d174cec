"""Chroma: embedded on disk by default (a `PersistentClient` under the data directory), or a Chroma server.

Chroma types stay in this module; the rest of the code speaks chunk ids, texts, metadata and numpy vectors.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import Settings
from .errors import StoreError

log = logging.getLogger(__name__)

ADD_BATCH = 1000
# chromadb keeps one shared system per path and fails when two clients for it are created at once
# (KeyError in SharedSystemClient): clients and collections are opened one at a time in a process
_OPENING = threading.RLock()


@dataclass
class StoredChunks:
    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, Any]]


class Store:
    """The chunk collection: ids `paper_id#n`, the chunk text as document, the paper's metadata."""

    def __init__(self, settings: Settings, create: bool = True):
        self.settings = settings
        self._create = create
        self._client = None
        self._collection = None

    @property
    def client(self):
        with _OPENING:
            return self._open_client()

    def _open_client(self):
        if self._client is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
            if self.settings.chroma_host:
                self._client = chromadb.HttpClient(
                    host=self.settings.chroma_host, port=self.settings.chroma_port, settings=chroma_settings
                )
            else:
                path = self.settings.store_dir()
                if not self._create and not path.exists():
                    raise StoreError(f"no index at {path} — run `paperqa-local ingest seeds/` first")
                path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        return self._client

    @property
    def collection(self):
        with _OPENING:
            return self._open_collection()

    def _open_collection(self):
        if self._collection is None:
            name = self.settings.collection
            if self._create:
                self._collection = self.client.get_or_create_collection(
                    name, metadata={"hnsw:space": "cosine", "embedding_model": self.settings.embedding_model}
                )
            else:
                try:
                    self._collection = self.client.get_collection(name)
                except Exception as exc:  # chromadb raises NotFoundError or ValueError by version
                    raise StoreError(f"no collection {name!r} in {self.location()} — run `paperqa-local ingest seeds/` first") from exc
            stored_model = (self._collection.metadata or {}).get("embedding_model")
            if stored_model and stored_model != self.settings.embedding_model:
                raise StoreError(
                    f"the store was built with embedding model {stored_model!r}, not {self.settings.embedding_model!r} — "
                    f"set PAPERQA_LOCAL_EMBEDDING_MODEL={stored_model} or use another --data-dir"
                )
        return self._collection

    def location(self) -> str:
        if self.settings.chroma_host:
            return f"chroma://{self.settings.chroma_host}:{self.settings.chroma_port}"
        return str(self.settings.store_dir())

    def count(self) -> int:
        return self.collection.count()

    def paper_hashes(self) -> dict[str, str]:
        """Content hash of each stored paper, read from its chunks' metadata."""
        hashes: dict[str, str] = {}
        for meta in self.all(include_texts=False).metadatas:
            hashes[meta["paper_id"]] = meta.get("content_hash", "")
        return hashes

    def all(self, include_texts: bool = True) -> StoredChunks:
        include = ["metadatas", "documents"] if include_texts else ["metadatas"]
        ids: list[str] = []
        texts: list[str] = []
        metadatas: list[dict[str, Any]] = []
        total = self.count()
        for offset in range(0, total, 5000):
            got = self.collection.get(include=include, limit=5000, offset=offset)
            ids += got["ids"]
            metadatas += got["metadatas"]
            texts += got["documents"] if include_texts else [""] * len(got["ids"])
        order = sorted(range(len(ids)), key=ids.__getitem__)
        return StoredChunks([ids[i] for i in order], [texts[i] for i in order], [metadatas[i] for i in order])

    def embeddings(self) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        got = self.collection.get(include=["embeddings", "metadatas"])
        return got["ids"], np.asarray(got["embeddings"], dtype=np.float32), got["metadatas"]

    def add(self, ids: list[str], texts: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        for start in range(0, len(ids), ADD_BATCH):
            end = start + ADD_BATCH
            self.collection.upsert(
                ids=ids[start:end],
                documents=texts[start:end],
                embeddings=vectors[start:end].tolist(),
                metadatas=metadatas[start:end],
            )

    def delete_papers(self, paper_ids: list[str]) -> None:
        if paper_ids:
            self.collection.delete(where={"paper_id": {"$in": paper_ids}})

    def query(self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[tuple[str, float, str, dict[str, Any]]]:
        """Nearest chunks: (chunk id, cosine similarity, text, metadata), best first."""
        total = self.count()
        if total == 0:
            return []
        got = self.collection.query(
            query_embeddings=[vector.tolist()],
            n_results=min(n, total),
            where=where,
            include=["distances", "documents", "metadatas"],
        )
        return [
            (cid, 1.0 - float(dist), doc, meta)
            for cid, dist, doc, meta in zip(got["ids"][0], got["distances"][0], got["documents"][0], got["metadatas"][0])
        ]

    def papers(self, paper_ids: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Each paper's whole stored text (its chunks in order) and the metadata of its first chunk."""
        if not paper_ids:
            return {}
        got = self.collection.get(where={"paper_id": {"$in": list(paper_ids)}}, include=["documents", "metadatas"])
        pieces: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
        for doc, meta in zip(got["documents"], got["metadatas"]):
            pieces.setdefault(meta["paper_id"], []).append((meta.get("position", 0), doc, meta))
        result = {}
        for pid, parts in pieces.items():
            parts.sort(key=lambda part: part[0])
            result[pid] = (" ".join(text for _, text, _ in parts), parts[0][2])
        return result

    def paper_texts(self, paper_ids: list[str]) -> dict[str, str]:
        """Each paper's whole stored text (its chunks in order), for showing a full abstract."""
        return {pid: text for pid, (text, _) in self.papers(paper_ids).items()}

    def get_texts(self, chunk_ids: list[str]) -> dict[str, str]:
        texts: dict[str, str] = {}
        for start in range(0, len(chunk_ids), 5000):
            got = self.collection.get(ids=chunk_ids[start : start + 5000], include=["documents"])
            texts.update(zip(got["ids"], got["documents"]))
        return texts

    def get(self, chunk_ids: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        got = self.collection.get(ids=chunk_ids, include=["documents", "metadatas"])
        return {cid: (doc, meta) for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])}

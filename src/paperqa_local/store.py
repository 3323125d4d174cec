"""Chroma: embedded on disk by default (a `PersistentClient` under the data directory), or a Chroma server.

Chroma types stay in this module and `store_client` (opening Chroma, and what its failures mean); the rest of
the code speaks chunk ids, texts, metadata and numpy vectors. `store_state` reads back what a crash left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import Settings
from .errors import StoreError
from .store_client import open_client, store_errors
from .store_state import StoredPaper, paper_states

log = logging.getLogger(__name__)

ADD_BATCH = 1000
CONTENT_KEY, PENDING = "paperqa_content", "pending"  # a Chroma server's collection metadata: `Store.declared_content`
KEYED = "paperqa_keyed"  # collection metadata: every chunk has KEY_FIELDS (`Store.keyed`)
KEY_FIELDS = ("key_doi", "key_arxiv", "key_title")  # chunk metadata: what ingest finds a stored paper by
# a second writer waits this long for the first (an ingest of a large library takes minutes), then gives up
WRITE_WAIT_S = 600
# Chroma counts a collection row by row (75 ms at 1M chunks, twice a search): an embedded store's count is kept
# while its database files are unchanged, once they have been quiet this long (a file's time stamp moves in
# ticks of a few ms, so a write in the tick after a count could leave the stamp as it was: git's "racy" case)
QUIET_S = 2.0
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
        self._write_lock = None
        self._counted: tuple[tuple, int] | None = None  # (database files' signature, count)

    @property
    def client(self):
        with _OPENING:
            if self._client is None:
                self._client = open_client(self.settings, self._create)  # its errors name the fix
            return self._client

    @property
    def collection(self):
        with _OPENING:
            return self._open_collection()

    def _open_collection(self):
        if self._collection is None:
            name = self.settings.collection
            model = self.settings.embedding_model
            client = self.client  # its own errors already name the fix
            try:
                if self._create:
                    collection = client.get_or_create_collection(
                        name, metadata={"hnsw:space": "cosine", "embedding_model": model}
                    )
                else:
                    collection = client.get_collection(name)
                stored_model = (collection.metadata or {}).get("embedding_model")
                empty = bool(stored_model and stored_model != model) and collection.count() == 0
                if empty and self._create:  # nothing embedded yet (a first ingest failed): the new model is as good
                    kept = {k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")}
                    collection.modify(metadata={**kept, "embedding_model": model})
                    stored_model = model
            except Exception as exc:  # noqa: BLE001 - chromadb raises NotFoundError or ValueError by version
                if not self._create and (type(exc).__name__ == "NotFoundError" or "does not exist" in str(exc)):
                    raise StoreError(f"no collection {name!r} in {self.location()} — run `paperqa-local ingest seeds/` first") from exc
                reason = (str(exc).splitlines() or [type(exc).__name__])[0]
                if self.settings.chroma_host:
                    import chromadb

                    raise StoreError(f"the Chroma server at {self.location()} could not open collection {name!r} ({reason}) "
                                     f"— check that it runs and is Chroma {chromadb.__version__}, like this client") from exc
                raise StoreError(f"cannot read collection {name!r} in {self.location()}: it was written by another Chroma "
                                 f"version or is damaged ({reason}) — re-ingest into a new --data-dir") from exc
            if stored_model and stored_model != model and not empty:
                raise StoreError(
                    f"the store was built with embedding model {stored_model!r}, not {model!r} — "
                    f"set PAPERQA_LOCAL_EMBEDDING_MODEL={stored_model} or use another --data-dir"
                )
            self._collection = collection  # only once it passed: a refused collection is not kept
        return self._collection

    def location(self) -> str:
        if self.settings.chroma_host:
            return f"chroma://{self.settings.chroma_host}:{self.settings.chroma_port}"
        return str(self.settings.store_dir())

    def _path(self) -> Path | None:
        return None if self.settings.chroma_host else self.settings.store_dir()

    def count(self) -> int:
        with store_errors(self.location(), self._path()):
            signature = self._files_signature()  # before counting: a write after it changes the next one
            counted = self._counted
            if signature is not None and counted is not None and counted[0] == signature:
                return counted[1]
            total = self.collection.count()
            self._counted = None if signature is None else (signature, total)
            return total

    def _files_signature(self) -> tuple | None:
        """What any write to the embedded store changes (time stamps, sizes, inodes of the SQLite file and its
        journals), or None when it cannot vouch for a count: on a Chroma server, or written in the last QUIET_S."""
        if self.settings.chroma_host or self._collection is None:
            return None
        signature = []
        for name in ("chroma.sqlite3", "chroma.sqlite3-wal", "chroma.sqlite3-journal"):
            try:
                found = (self.settings.store_dir() / name).stat()
            except OSError:
                signature.append(None)
                continue
            if time.time() - found.st_mtime < QUIET_S:
                return None
            signature.append((found.st_mtime_ns, found.st_size, found.st_ino))
        return tuple(signature) if signature[0] is not None else None

    def collections(self) -> dict[str, int]:
        """Every collection of this store (the libraries of one data directory, or of one Chroma server) and how
        many papers it holds, by name. Papers are counted by their first chunks' ids (no metadata read), so
        listing a large store is quick. An embedded store that was never written lists nothing (and stays so)."""
        if not self.settings.chroma_host and not (self.settings.store_dir() / "chroma.sqlite3").is_file():
            return {}
        found = {}
        with _OPENING, store_errors(self.location(), self._path()):
            for item in self.client.list_collections():  # Collection objects (chromadb 1.x), names in 0.6
                collection = item if hasattr(item, "get") else self.client.get_collection(item)
                found[collection.name] = len(collection.get(where={"position": 0}, include=[])["ids"])
        return dict(sorted(found.items()))

    def declared_content(self) -> str:
        """On a Chroma server: what its last writer declared its content to be (`keyword.content_digest`, or
        PENDING while a write is under way), kept in the collection's metadata, where every app instance, on any
        machine, reads it before each keyword search. "" for the embedded store (its files say it: `keyword_sync`)."""
        if not self.settings.chroma_host:
            return ""
        with store_errors(self.location()):
            return str((self.client.get_collection(self.settings.collection).metadata or {}).get(CONTENT_KEY, ""))

    def declare_content(self, value: str) -> None:
        if self.settings.chroma_host:
            self._set_collection_metadata(CONTENT_KEY, value)

    def keyed(self) -> bool:
        """Whether every chunk carries its paper's lookup keys (`KEY_FIELDS`), so that ingest finds a paper's
        stored self by a query instead of reading every chunk's metadata: true of collections created since."""
        with _OPENING, store_errors(self.location(), self._path()):
            self._open_collection()  # opened (or created) first: the flag is read fresh, another process may set it
            return bool((self.client.get_collection(self.settings.collection).metadata or {}).get(KEYED))

    def set_keyed(self) -> None:
        self._set_collection_metadata(KEYED, True)

    def _set_collection_metadata(self, key: str, value: Any) -> None:
        with store_errors(self.location(), self._path()):
            collection = self.client.get_collection(self.settings.collection)
            kept = {k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")}
            collection.modify(metadata={**kept, key: value})

    def lock_path(self) -> Path:
        name = self.settings.collection
        if self.settings.chroma_host:  # serialises the writers of this machine only
            name = f"{self.settings.chroma_host}-{self.settings.chroma_port}-{name}"
        return self.settings.home / f".write-{name}.lock"

    @contextmanager
    def writing(self, wait: bool = True) -> Iterator[bool]:
        """One writer at a time per store, across threads and processes (a file lock beside the store); re-entrant
        in one thread. A second writer waits for the first, then gives up with a message; with `wait=False` it
        gets False at once instead (and must not write)."""
        from filelock import FileLock

        path = self.lock_path()
        try:
            with store_errors(str(path.parent), path.parent):
                path.parent.mkdir(parents=True, exist_ok=True)
                if self._write_lock is None:
                    self._write_lock = FileLock(str(path))
                got = self._acquire(wait)
        except StoreError:
            if wait:
                raise
            got = False  # a reader of a read-only store: it simply does not write
        if not got:
            yield False
            return
        try:
            yield True
        finally:
            self._write_lock.release()

    def _acquire(self, wait: bool) -> bool:
        from filelock import Timeout

        try:
            self._write_lock.acquire(timeout=0)
            return True
        except Timeout:
            if not wait:
                return False
        log.warning("another process is writing to %s; waiting for it to finish", self.location())
        try:
            self._write_lock.acquire(timeout=WRITE_WAIT_S)
        except Timeout:
            raise StoreError(f"another process has been writing to {self.location()} for {WRITE_WAIT_S // 60} minutes "
                             "— wait for it to finish or stop it, then run this again") from None
        return True

    def paper_states(self, paper_ids: list[str] | None = None) -> dict[str, StoredPaper]:
        """Each stored paper's content hash, its chunks' text hashes, and whether its last write completed: of
        these papers (looked up by id), or of every paper."""
        stored = self.all(include_texts=False) if paper_ids is None else self.chunks_of(paper_ids)
        return paper_states(stored.metadatas, stored.ids)

    def chunks_of(self, paper_ids: list[str]) -> StoredChunks:
        """Every chunk of these papers, metadata only, by a query on `paper_id`: the cost of these papers, not of
        the store."""
        return self._where("paper_id", paper_ids)

    def find_papers(self, field: str, values: list[str]) -> set[str]:
        """The ids of papers with a chunk whose metadata `field` is one of `values`."""
        return {meta["paper_id"] for meta in self._where(field, values).metadatas}

    def _where(self, field: str, values: list[str]) -> StoredChunks:
        ids: list[str] = []
        metadatas: list[dict[str, Any]] = []
        values = sorted(set(values))
        for start in range(0, len(values), ADD_BATCH):  # a filter of thousands of values is one large query
            where = {field: {"$in": values[start : start + ADD_BATCH]}}
            with store_errors(self.location(), self._path()):
                got = self._fresh(lambda: self.collection.get(where=where, include=["metadatas"]))
            ids += got["ids"]
            metadatas += got["metadatas"]
        order = sorted(range(len(ids)), key=ids.__getitem__)
        return StoredChunks([ids[i] for i in order], [""] * len(ids), [metadatas[i] for i in order])

    def metadatas(self, chunk_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The metadata of those of these chunks that are stored, by id."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(chunk_ids), 5000):
            with store_errors(self.location(), self._path()):
                got = self.collection.get(ids=chunk_ids[start : start + 5000], include=["metadatas"])
            found.update(zip(got["ids"], got["metadatas"]))
        return found

    def all(self, include_texts: bool = True) -> StoredChunks:
        include = ["metadatas", "documents"] if include_texts else ["metadatas"]
        ids: list[str] = []
        texts: list[str] = []
        metadatas: list[dict[str, Any]] = []
        total = self.count()
        for offset in range(0, total, 5000):
            got = self._fresh(lambda: self.collection.get(include=include, limit=5000, offset=offset))
            ids += got["ids"]
            metadatas += got["metadatas"]
            texts += got["documents"] if include_texts else [""] * len(got["ids"])
        order = sorted(range(len(ids)), key=ids.__getitem__)
        return StoredChunks([ids[i] for i in order], [texts[i] for i in order], [metadatas[i] for i in order])

    def embeddings(self) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        got = self._fresh(lambda: self.collection.get(include=["embeddings", "metadatas"]))
        return got["ids"], np.asarray(got["embeddings"], dtype=np.float32), got["metadatas"]

    def _fresh(self, read: Callable[[], Any]) -> Any:
        """`read()`, once more on a reopened client when it fails because another process wrote to the store:
        an embedded Chroma client keeps its own view of the vector segment, and reading every vector through a
        stale one fails ("Error finding id") after another process's ingest (seen with the UI open during a CLI
        ingest; the store itself is intact)."""
        try:
            return read()
        except Exception as exc:  # noqa: BLE001 - chromadb's InternalError (Rust) has no stable import path
            if type(exc).__name__ != "InternalError" or self.settings.chroma_host:
                raise
            log.info("the store at %s changed under this process; reopening it", self.location())
            self.reopen()
            return read()

    def reopen(self) -> None:
        """Drop this process's client of the store, so the next read sees what other processes wrote."""
        from chromadb.api.shared_system_client import SharedSystemClient

        with _OPENING:
            SharedSystemClient._identifier_to_system.pop(str(self.settings.store_dir()), None)
            self._client = self._collection = self._counted = None

    def add(self, ids: list[str], texts: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]],
            after_batch: Callable[[], None] | None = None) -> None:
        for start in range(0, len(ids), ADD_BATCH):
            end = start + ADD_BATCH
            with store_errors(self.location(), self._path()):
                self.collection.upsert(
                    ids=ids[start:end],
                    documents=texts[start:end],
                    embeddings=vectors[start:end].tolist(),
                    metadatas=metadatas[start:end],
                )
            if after_batch:
                after_batch()

    def update_metadata(self, ids: list[str], metadatas: list[dict[str, Any]]) -> None:
        """New metadata for chunks whose text is unchanged (nothing re-embedded)."""
        for start in range(0, len(ids), ADD_BATCH):
            with store_errors(self.location(), self._path()):
                self.collection.update(ids=ids[start : start + ADD_BATCH], metadatas=metadatas[start : start + ADD_BATCH])

    def delete(self, chunk_ids: list[str]) -> None:
        for start in range(0, len(chunk_ids), ADD_BATCH):
            with store_errors(self.location(), self._path()):
                self.collection.delete(ids=chunk_ids[start : start + ADD_BATCH])

    def delete_papers(self, paper_ids: list[str]) -> None:
        """Every chunk of these papers (in batches: a filter of thousands of ids is one large query)."""
        for start in range(0, len(paper_ids), ADD_BATCH):
            with store_errors(self.location(), self._path()):
                self.collection.delete(where={"paper_id": {"$in": list(paper_ids[start : start + ADD_BATCH])}})

    def query(self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None,
              metadata: bool = False) -> list[tuple[str, float, dict[str, Any] | None]]:
        """Nearest chunks: (chunk id, cosine similarity, metadata when asked for), best first; Chroma gives fewer
        than n, or none, when it holds fewer. Texts and metadata are read by `get` for the chunks kept: reading
        them for all n candidates was most of a query's time (100 of 100k chunks: 9 ms, ids alone 3 ms)."""
        got = self.collection.query(
            query_embeddings=[vector.tolist()],
            n_results=n,
            where=where,
            include=["distances", "metadatas"] if metadata else ["distances"],
        )
        metadatas = got["metadatas"][0] if metadata else [None] * len(got["ids"][0])
        return [(cid, 1.0 - float(dist), meta) for cid, dist, meta in zip(got["ids"][0], got["distances"][0], metadatas)]

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

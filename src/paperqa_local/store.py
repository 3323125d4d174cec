"""Chroma: embedded on disk by default (a `PersistentClient` under the data directory), or a Chroma server.

Chroma types stay in this module; the rest of the code speaks chunk ids, texts, metadata and numpy vectors.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import Settings
from .errors import StoreError

log = logging.getLogger(__name__)

ADD_BATCH = 1000
# a second writer waits this long for the first (an ingest of a large library takes minutes), then gives up
WRITE_WAIT_S = 600
DISK_FULL_BYTES = 1 << 20  # less free space than this beside the store, and a failed write is a full disk
# chromadb keeps one shared system per path and fails when two clients for it are created at once
# (KeyError in SharedSystemClient): clients and collections are opened one at a time in a process
_OPENING = threading.RLock()


@dataclass
class StoredChunks:
    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, Any]]


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


def _disk_full(path: Path | None) -> bool:
    try:
        return path is not None and shutil.disk_usage(path if path.exists() else path.parent).free < DISK_FULL_BYTES
    except OSError:
        return False


@contextmanager
def _store_errors(where: str, path: Path | None = None) -> Iterator[None]:
    """A failed read or write says why and what to do. Chroma reports a full disk as an internal error ("Failed to
    apply logs …"), even on reads (it compacts its log first), so the free space of `path` is checked too."""
    try:
        yield
    except PermissionError as exc:
        raise StoreError(f"cannot write to {where}: permission denied — use a data directory you can write to "
                         "(--data-dir / PAPERQA_LOCAL_HOME)") from exc
    except StoreError:
        raise
    except Exception as exc:  # chromadb's own errors have no common base across versions
        text = str(exc).lower()
        if "readonly" in text or "read-only" in text or getattr(exc, "errno", None) == 30:
            raise StoreError(f"cannot write to {where}: it is read-only — use a data directory you can write to "
                             "(--data-dir / PAPERQA_LOCAL_HOME)") from exc
        if "disk is full" in text or "no space" in text or getattr(exc, "errno", None) == 28 or _disk_full(path):
            raise StoreError(f"the disk holding {where} is full — free some space and run the same command again "
                             "(what was stored before is kept)") from exc
        raise


class Store:
    """The chunk collection: ids `paper_id#n`, the chunk text as document, the paper's metadata."""

    def __init__(self, settings: Settings, create: bool = True):
        self.settings = settings
        self._create = create
        self._client = None
        self._collection = None
        self._write_lock = None

    @property
    def client(self):
        with _OPENING:
            return self._open_client()

    def _open_client(self):
        """The Chroma client; whatever keeps it from opening (the data directory is a file or read-only, the store
        is damaged or another Chroma version's) is a StoreError naming the fix, and leaves nothing half-open."""
        if self._client is None:
            import errno
            import os

            import chromadb
            from chromadb.config import Settings as ChromaSettings

            chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
            if self.settings.chroma_host:
                where = f"{self.settings.chroma_host}:{self.settings.chroma_port}"
                try:
                    self._client = chromadb.HttpClient(
                        host=self.settings.chroma_host, port=self.settings.chroma_port, settings=chroma_settings
                    )
                except Exception as exc:  # noqa: BLE001 - connection errors differ by chromadb and httpx version
                    raise StoreError(f"cannot reach the Chroma server at {where} ({exc}) — start it "
                                     "(`chroma run --path DIR --port PORT`) or unset PAPERQA_LOCAL_CHROMA_HOST") from exc
                return self._client
            path = self.settings.store_dir()
            database = path / "chroma.sqlite3"
            anew = "re-ingest into a new --data-dir (e.g. `paperqa-local --data-dir ~/papers-new ingest seeds/`)"
            if path.exists() and not path.is_dir():
                raise StoreError(f"{path} is a file, not a directory — the store needs a folder there: move the file "
                                 "away or point --data-dir elsewhere")
            if any(path.glob("chroma-*.parquet")) and not database.exists():
                raise StoreError(f"the store at {path} was written by Chroma 0.3 or older (DuckDB and Parquet files), "
                                 f"which this Chroma cannot read — {anew}")
            if not self._create and (not database.is_file() or database.stat().st_size == 0):
                raise StoreError(f"no index at {path} — run `paperqa-local ingest seeds/` first")

            def read_only(where: Path) -> str:
                try:
                    mounted = bool(os.statvfs(where).f_flag & os.ST_RDONLY)
                except OSError:
                    mounted = False
                problem = f"cannot write to {where} (read-only{' file system' if mounted else ''})"
                if not database.exists():
                    return f"{problem} — point --data-dir at a folder you can write to"
                fix = "" if mounted else f"make it writable (`chmod -R u+w {path}`, as its owner) or "
                return (f"{problem} — Chroma needs write access to its store even to read it: {fix}copy the data "
                        "directory somewhere writable and point --data-dir there")

            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                blocked = next((p for p in path.parents if p.exists()), path)
                if exc.errno == errno.ENOTDIR:
                    raise StoreError(f"{blocked} is a file, not a directory — point --data-dir at a folder") from exc
                if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise StoreError(read_only(blocked)) from exc
                raise StoreError(f"cannot create the store at {path}: {exc.strerror} — point --data-dir at a folder "
                                 "you can write to") from exc
            locked = next((p for p in (path, database) if p.exists() and not os.access(p, os.W_OK)), None)
            if locked is not None:
                raise StoreError(read_only(locked))
            try:
                self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            except Exception as exc:  # noqa: BLE001 - chromadb raises InternalError (Rust), sqlite3 or ValueError by version
                from chromadb.api.shared_system_client import SharedSystemClient

                # chromadb caches the system for this path before starting it: a failed start would be reused
                SharedSystemClient._identifier_to_system.pop(str(path), None)
                text = str(exc).lower()
                if "readonly" in text or "read-only" in text:
                    raise StoreError(read_only(path)) from exc
                reason = (str(exc).splitlines() or [type(exc).__name__])[0]
                raise StoreError(f"the store at {path} was written by another Chroma version or is damaged ({reason}) "
                                 f"— {anew}") from exc
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
        with _store_errors(self.location(), self._path()):
            return self.collection.count()

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
            with _store_errors(str(path.parent), path.parent):
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

    def paper_states(self) -> dict[str, StoredPaper]:
        """Each stored paper's content hash, its chunks' text hashes, and whether its last write completed."""
        stored = self.all(include_texts=False)
        return paper_states(stored.metadatas, stored.ids)

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
            self._client = self._collection = None

    def add(self, ids: list[str], texts: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]],
            after_batch: Callable[[], None] | None = None) -> None:
        for start in range(0, len(ids), ADD_BATCH):
            end = start + ADD_BATCH
            with _store_errors(self.location(), self._path()):
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
            with _store_errors(self.location(), self._path()):
                self.collection.update(ids=ids[start : start + ADD_BATCH], metadatas=metadatas[start : start + ADD_BATCH])

    def delete(self, chunk_ids: list[str]) -> None:
        for start in range(0, len(chunk_ids), ADD_BATCH):
            with _store_errors(self.location(), self._path()):
                self.collection.delete(ids=chunk_ids[start : start + ADD_BATCH])

    def delete_papers(self, paper_ids: list[str]) -> None:
        """Every chunk of these papers (in batches: a filter of thousands of ids is one large query)."""
        for start in range(0, len(paper_ids), ADD_BATCH):
            with _store_errors(self.location(), self._path()):
                self.collection.delete(where={"paper_id": {"$in": list(paper_ids[start : start + ADD_BATCH])}})

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

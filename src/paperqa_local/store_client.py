"""Reaching Chroma — the embedded store under the data directory, or a Chroma server — and what its failures mean:
whatever keeps the store from opening or a read or write from going through becomes a StoreError naming the fix."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .config import Settings
from .errors import StoreError

DISK_FULL_BYTES = 1 << 20  # less free space than this beside the store, and a failed write is a full disk


def open_client(settings: Settings, create: bool):
    """The Chroma client; whatever keeps it from opening (the data directory is a file or read-only, the store
    is damaged or another Chroma version's) is a StoreError naming the fix, and leaves nothing half-open."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_host:
        where = f"{settings.chroma_host}:{settings.chroma_port}"
        try:
            return chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        except Exception as exc:  # noqa: BLE001 - connection errors differ by chromadb and httpx version
            raise StoreError(f"cannot reach the Chroma server at {where} ({exc}) — start it "
                             "(`chroma run --path DIR --port PORT`) or unset PAPERQA_LOCAL_CHROMA_HOST") from exc
    path = settings.store_dir()
    database = path / "chroma.sqlite3"
    anew = "re-ingest into a new --data-dir (e.g. `paperqa-local --data-dir ~/papers-new ingest seeds/`)"
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} is a file, not a directory — the store needs a folder there: move the file "
                         "away or point --data-dir elsewhere")
    if any(path.glob("chroma-*.parquet")) and not database.exists():
        raise StoreError(f"the store at {path} was written by Chroma 0.3 or older (DuckDB and Parquet files), "
                         f"which this Chroma cannot read — {anew}")
    if not create and (not database.is_file() or database.stat().st_size == 0):
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
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
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


def disk_full(path: Path | None) -> bool:
    try:
        return path is not None and shutil.disk_usage(path if path.exists() else path.parent).free < DISK_FULL_BYTES
    except OSError:
        return False


@contextmanager
def store_errors(where: str, path: Path | None = None) -> Iterator[None]:
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
        if where.startswith("chroma://") and type(exc).__module__.startswith(("httpx", "httpcore")):
            raise StoreError(f"lost the Chroma server at {where[9:]} ({type(exc).__name__}: {exc}) — check that it "
                             "still runs (`chroma run --path DIR --port PORT`), or unset PAPERQA_LOCAL_CHROMA_HOST") from exc
        if "readonly" in text or "read-only" in text or getattr(exc, "errno", None) == 30:
            raise StoreError(f"cannot write to {where}: it is read-only — use a data directory you can write to "
                             "(--data-dir / PAPERQA_LOCAL_HOME)") from exc
        if "disk is full" in text or "no space" in text or getattr(exc, "errno", None) == 28 or disk_full(path):
            raise StoreError(f"the disk holding {where} is full — free some space and run the same command again "
                             "(what was stored before is kept)") from exc
        raise

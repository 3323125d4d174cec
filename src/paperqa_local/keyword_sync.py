"""The keyword index kept in step with the store's content, across crashes and across processes, at the cost of
the chunks that changed, not of the corpus.

A writer marks the index pending before it touches the store, listing the chunks it will write or delete (the
journal), and clears the mark once the new index is saved. A reader checks, before each search, whether the
store or the saved index changed or a write is pending (a count and two file stats). A pending journal is
applied by reading back the chunks it lists, by id: after a crash between the two writes, or while an abstract
is changed in place under the same chunk ids, keyword hits never come from text the store no longer holds.
Only when the changes are unknown (a count that disagrees, a pending mark without a journal) is the whole store's
metadata compared with the index — and then only the chunks that differ are tokenised.

With a Chroma server, each machine keeps its own index, built from the server's content, in a folder of its
data directory named after the server; the count and the local files cannot tell it that an app instance on
another machine changed an abstract in place, so the writer also declares the content on the server (PENDING
before it writes, the digest after: `Store.declare_content`), and every reader compares that too; a reader on
another machine does not see the writer's journal, so it compares the whole store's metadata.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, NamedTuple

from .keyword import DELTA, KeywordIndex, Row
from .store import PENDING, Store

log = logging.getLogger(__name__)


def embedding_text(title: str, chunk_text: str) -> str:
    """What is embedded and keyword-indexed: the title gives every chunk its topic (once: the one chunk of a paper
    listed without an abstract is its title)."""
    return f"{title}. {chunk_text}" if title and chunk_text != title else chunk_text


def keyword_dir(store: Store) -> Path:
    settings = store.settings
    if settings.chroma_host:  # this machine's copy of a server's content: one folder per server
        return settings.home / "chroma-servers" / f"{settings.chroma_host}-{settings.chroma_port}" / f"bm25-{settings.collection}"
    return settings.store_dir() / f"bm25-{settings.collection}"


def pending_path(store: Store) -> Path:
    folder = keyword_dir(store)
    return folder.with_name(folder.name + ".pending")


_DECLARING: weakref.WeakSet[Store] = weakref.WeakSet()  # stores this process marked pending on their server
# the index last synced for each folder: its main segment is reused by the next sync of any store object on the
# folder in this process (the UI's reader and its ingest), so that a write does not read a large main segment again
_LAST: dict[Path, KeywordIndex] = {}
_MERGING: dict[Path, threading.Thread] = {}  # the background merge running for each folder
_MERGING_LOCK = threading.Lock()
_UNKNOWN = None  # a journal that cannot say which chunks changed: the whole store is compared


def mark_pending(store: Store, chunk_ids: list[str] | None = None) -> None:
    """Before a write: the chunks it will write or delete (None: unknown), with those of a crashed writer's
    mark if one is left, swapped in whole so that a crash leaves the old mark or the new one."""
    path = pending_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    left = read_pending(path) if path.exists() else []
    chunks = _UNKNOWN if left is _UNKNOWN or chunk_ids is None else sorted({*left, *chunk_ids})
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump({"chunks": chunks}, out)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    if store.settings.chroma_host:
        store.declare_content(PENDING)
        _DECLARING.add(store)


def read_pending(path: Path) -> list[str] | None:
    """The chunk ids a pending mark lists; None when it cannot say (a mark of an older version: an empty file)."""
    try:
        chunks = json.loads(path.read_text())["chunks"]
        return _UNKNOWN if chunks is None else [str(cid) for cid in chunks]
    except (OSError, ValueError, KeyError, TypeError):
        return _UNKNOWN


class State(NamedTuple):
    """What a reader compares before each search to notice another process's write."""

    count: int
    saved: int  # mtime of the saved index's delta record, 0 when there is none
    pending: bool
    declared: str = ""  # a Chroma server's declared content (`Store.declared_content`)


def state(store: Store) -> State:
    try:
        saved = (keyword_dir(store) / DELTA).stat().st_mtime_ns
    except OSError:
        saved = 0
    count = store.count()  # first: it opens (or creates) the collection that `declared_content` reads
    declared = store.declared_content()
    return State(count, saved, pending_path(store).exists() or declared == PENDING, declared)


def sync_keyword_index(store: Store, current: KeywordIndex | None = None, force: bool = False,
                       known: dict[str, str] | None = None, written: dict[str, dict[str, Any]] | None = None) -> KeywordIndex:
    """An index that agrees with the store's content now: the saved one (with `current`'s main segment when it is
    the saved one), brought in step by a pending journal or, when what changed is unknown, by comparing the
    store's metadata with it; rebuilt from the whole store only when there is none (or `force`, `reindex`). It is
    saved (and the pending mark cleared) unless another writer holds the store, in which case it is kept in memory
    only. `known` maps chunk ids to texts the caller already holds, `written` to the metadata a writer has just
    stored (not read back)."""
    known = known or {}
    path = pending_path(store)
    journal = read_pending(path) if path.exists() else []
    pending = path.exists()
    folder = keyword_dir(store)
    index = None if force else KeywordIndex.load(folder, reuse=(current, _LAST.get(folder)))
    declared = store.declared_content()
    if index is None:
        index = _rebuild(store, known)
    elif journal:
        index = _apply(store, index, journal, known, written or {})
    elif journal is _UNKNOWN or declared == PENDING or (declared and declared != index.content) \
            or index.count != store.count():
        log.warning("keyword index at %s does not match the store; bringing it in step", folder)
        index = _compare(store, index)
    elif not pending:
        _LAST[folder] = index
        return index  # saved by the last writer, whose mark is cleared: it agrees
    with store.writing(wait=False) as ours:
        if ours and (path.exists() or not pending):  # a mark seen and gone since: a writer saved a newer index
            _remove_leftovers(store)
            index.save(folder)
            path.unlink(missing_ok=True)
            _declare(store, index.content)
            _LAST[folder] = index
            if index.merge_due():
                merge_in_background(store, index)
    return index


def merge_in_background(store: Store, index: KeywordIndex) -> None:
    """Merge the saved index's delta into its main segment in a thread of its own (one per folder at a time):
    tens of seconds at a million chunks, which no write or search waits for. Not a daemon: a process that is
    leaving finishes the merge first rather than lose it."""
    folder = keyword_dir(store)
    with _MERGING_LOCK:
        if folder in _MERGING:
            return
        _MERGING[folder] = thread = threading.Thread(target=_merge, args=(store, index), name=f"merge {folder.name}")
    thread.start()


def wait_for_merges(timeout: float | None = None) -> None:
    """Until the background merges running now are done (benchmarks and tests; a leaving process does it anyway)."""
    with _MERGING_LOCK:
        threads = list(_MERGING.values())
    for thread in threads:
        thread.join(timeout)


def _merge(store: Store, base: KeywordIndex) -> None:
    """`base` merged with no lock held, then, holding the write lock, rebased on what the saved index holds now
    (writes made meanwhile stay in its delta) and saved. Given up, for the next change to retry, when the saved
    index is no longer built on `base`'s main segment or a crashed writer's journal is pending."""
    folder = keyword_dir(store)
    try:
        merged = base.merged()
        with store.writing() as ours:
            saved = KeywordIndex.load(folder, reuse=(base, _LAST.get(folder))) if ours and not pending_path(store).exists() else None
            if saved is None or saved.main.digest != base.main.digest:
                log.info("keyword index at %s changed under its background merge; the next change merges it", folder)
                return
            index = saved.rebased(base, merged)
            _remove_leftovers(store)
            index.save(folder)
            _LAST[folder] = index
    except Exception:  # noqa: BLE001 - a thread's failure must be seen; the index stays as saved, correct but unmerged
        log.exception("keyword index at %s: the background merge failed; the next change tries again", folder)
    finally:
        with _MERGING_LOCK:
            _MERGING.pop(folder, None)


def _rebuild(store: Store, known: dict[str, str]) -> KeywordIndex:
    stored = store.all(include_texts=False)
    missing = [cid for cid in stored.ids if cid not in known]
    texts_of = {**store.get_texts(missing), **known} if missing else known
    texts = [embedding_text(meta.get("title", ""), texts_of[cid]) for cid, meta in zip(stored.ids, stored.metadatas)]
    return KeywordIndex.build(stored.ids, texts, stored.metadatas)


def _apply(store: Store, index: KeywordIndex, chunk_ids: list[str], known: dict[str, str],
           written: dict[str, dict[str, Any]]) -> KeywordIndex:
    """The journal's chunks as the store holds them now, read by id (but for those the caller has just `written`,
    holding the write lock): the others are not touched."""
    metadatas = {**store.metadatas([cid for cid in chunk_ids if cid not in written]), **written}
    removed = [cid for cid in chunk_ids if cid not in metadatas and index.row(cid) is not None]
    changed = [cid for cid, meta in metadatas.items() if index.row(cid) != Row.of(meta) or cid in known]
    return _update(store, index, {cid: metadatas[cid] for cid in changed}, removed, known)


def _compare(store: Store, index: KeywordIndex) -> KeywordIndex:
    """The whole store's metadata against the index's rows; only the chunks that differ are read and tokenised."""
    stored = store.all(include_texts=False)
    rows = index.rows()
    changed = {cid: meta for cid, meta in zip(stored.ids, stored.metadatas) if rows.get(cid) != Row.of(meta)}
    removed = list(rows.keys() - set(stored.ids))
    return _update(store, index, changed, removed, {})


def _update(store: Store, index: KeywordIndex, changed: dict[str, dict[str, Any]], removed: list[str],
            known: dict[str, str]) -> KeywordIndex:
    if not changed and not removed:
        return index
    missing = [cid for cid in changed if cid not in known]
    texts = {**store.get_texts(missing), **known} if missing else known
    upserts = [(cid, embedding_text(meta.get("title", ""), texts[cid]), meta) for cid, meta in changed.items()]
    return index.update(upserts, removed)


def summary(store: Store) -> dict[str, Any] | None:
    """The saved index's summary of the store (papers, chunks, papers per year, undated papers) when it is
    current — no write pending, the same count, on a server the same declared content — else None."""
    try:
        record = json.loads((keyword_dir(store) / DELTA).read_text())
        now = state(store)
        if now.pending or now.count != record["count"] or (now.declared and now.declared != record["content"]):
            return None
        found = record["summary"]
        return {**found, "papers_per_year": {int(year): n for year, n in found["papers_per_year"].items()}}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _declare(store: Store, digest: str) -> None:
    """The writer that marked the server pending declares what it holds now; a reader never does (a writer on
    another machine may be half-way: its PENDING must stand until it is done)."""
    if store in _DECLARING:
        store.declare_content(digest)
        _DECLARING.discard(store)


def _remove_leftovers(store: Store) -> None:
    """Temporary folders of saves that a crash interrupted."""
    folder = keyword_dir(store)
    for path in folder.parent.glob(f"{folder.name}.tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in folder.parent.glob(f"{folder.name}.old-*"):
        shutil.rmtree(path, ignore_errors=True)

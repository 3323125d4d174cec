"""The keyword index kept in step with the store's content, across crashes and across processes.

A writer marks the index pending before it touches the store and clears the mark once the new index is
saved. A reader checks, before each search, whether the store or the saved index changed or a write is
pending (a count and two file stats); only then does it compare the store's content digest with the
index's, and rebuild from the store when they differ — so a crash between the two writes, or an abstract
changed in place under the same chunk ids, can never leave stale keyword text.

With a Chroma server, each machine keeps its own index, built from the server's content, in a folder of its
data directory named after the server; the count and the local files cannot tell it that an app instance on
another machine changed an abstract in place, so the writer also declares the content on the server (PENDING
before it writes, the digest after: `Store.declare_content`), and every reader compares that too.
"""

from __future__ import annotations

import logging
import shutil
import weakref
from pathlib import Path
from typing import NamedTuple

from .keyword import MARKER, KeywordIndex, content_digest
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


def mark_pending(store: Store) -> None:
    path = pending_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    if store.settings.chroma_host:
        store.declare_content(PENDING)
        _DECLARING.add(store)


class State(NamedTuple):
    """What a reader compares before each search to notice another process's write."""

    count: int
    saved: int  # mtime of the saved index's marker, 0 when there is none
    pending: bool
    declared: str = ""  # a Chroma server's declared content (`Store.declared_content`)


def state(store: Store) -> State:
    marker = keyword_dir(store) / MARKER
    try:
        saved = marker.stat().st_mtime_ns
    except OSError:
        saved = 0
    count = store.count()  # first: it opens (or creates) the collection that `declared_content` reads
    declared = store.declared_content()
    return State(count, saved, pending_path(store).exists() or declared == PENDING, declared)


def sync_keyword_index(store: Store, current: KeywordIndex | None = None, force: bool = False,
                       known: dict[str, str] | None = None) -> KeywordIndex:
    """An index that agrees with the store's content now: `current` or the saved one when they do, else one
    rebuilt from the store — saved (and the pending mark cleared) unless another writer holds the store, in
    which case it is kept in memory only. `known` maps chunk ids to texts the caller already holds."""
    stored = store.all(include_texts=False)
    want = content_digest(stored.ids, stored.metadatas)
    if not force:
        if current is not None and current.content == want:
            return current
        saved = KeywordIndex.load(keyword_dir(store))
        if saved is not None and saved.content == want:
            _clear_pending(store)
            return saved
        if saved is not None:  # a missing or damaged one is said by `load`
            log.warning("keyword index at %s does not match the store; rebuilding it", keyword_dir(store))
    known = known or {}
    missing = [cid for cid in stored.ids if cid not in known]
    texts_of = {**store.get_texts(missing), **known} if missing else known
    texts = [embedding_text(meta.get("title", ""), texts_of[cid]) for cid, meta in zip(stored.ids, stored.metadatas)]
    index = KeywordIndex.build(stored.ids, texts, stored.metadatas)
    with store.writing(wait=False) as ours:
        if ours:
            _remove_leftovers(store)
            index.save(keyword_dir(store))
            pending_path(store).unlink(missing_ok=True)
            _declare(store, want)
    return index


def _declare(store: Store, digest: str) -> None:
    """The writer that marked the server pending declares what it holds now; a reader never does (a writer on
    another machine may be half-way: its PENDING must stand until it is done)."""
    if store in _DECLARING:
        store.declare_content(digest)
        _DECLARING.discard(store)


def _clear_pending(store: Store) -> None:
    """The saved index matches the store: a pending mark left by a crashed writer can go (not a live one's)."""
    if pending_path(store).exists():
        with store.writing(wait=False) as ours:
            if ours:
                pending_path(store).unlink(missing_ok=True)


def _remove_leftovers(store: Store) -> None:
    """Temporary folders of saves that a crash interrupted."""
    folder = keyword_dir(store)
    for path in folder.parent.glob(f"{folder.name}.tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in folder.parent.glob(f"{folder.name}.old-*"):
        shutil.rmtree(path, ignore_errors=True)

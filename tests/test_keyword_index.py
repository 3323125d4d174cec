"""The incremental keyword index: a delta over a main segment ranks as a full rebuild does, and adding a paper to
a store looks up what it holds of that paper by id and keys, reading nothing else."""

from __future__ import annotations

import random

import bm25s
import numpy as np
import pytest

from paperqa_local import PaperQA
from paperqa_local.keyword import KeywordIndex, content_digest
from paperqa_local.keyword_segment import tokenize
from paperqa_local.keyword_sync import keyword_dir
from paperqa_local.sources import title_key
from paperqa_local.store import Store
from paperqa_local.types import Paper

from .conftest import HashEmbedder

WORDS = ("cell protein gene cancer tumor mouse brain neuron virus vaccine drug dose trial patient risk heart lung "
         "liver blood immune").split()
QUERIES = ["cancer tumor immune", "vaccine trial", "brain", "heart heart lung dose", "zebra"]


def corpus(n: int, seed: int = 1) -> tuple[list[str], list[str], list[dict]]:
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40))) for _ in range(n)]
    ids = [f"p{i}#0" for i in range(n)]
    metas = [{"paper_id": f"p{i}", "year": 2000 + i % 20, "text_hash": f"h{i}", "position": 0} for i in range(n)]
    return ids, texts, metas


def ranking(index: KeywordIndex, query: str, **filters) -> list[tuple[str, float]]:
    return [(index.slots[pos], round(score, 9)) for pos, score in index.search(query, 30, **filters)]


def test_scores_are_bm25s_scores():
    ids, texts, metas = corpus(200)
    ours = KeywordIndex.build(ids, texts, metas)
    theirs = bm25s.BM25()
    theirs.index(tokenize(texts), show_progress=False)
    docs, scores = theirs.retrieve(tokenize(["cancer tumor immune"]), k=10, show_progress=False)
    found = ours.search("cancer tumor immune", 10)
    assert [pos for pos, _ in found] == [int(d) for d in docs[0]]
    assert np.allclose([score for _, score in found], scores[0], rtol=1e-5)


def test_added_changed_and_removed_chunks_rank_as_a_full_rebuild():
    ids, texts, metas = corpus(200)
    index = KeywordIndex.build(ids[:150], texts[:150], metas[:150])
    index = index.update([(ids[i], texts[i], metas[i]) for i in range(150, 200)], [])  # added
    texts[3], metas[3] = "vaccine vaccine trial", {**metas[3], "text_hash": "changed"}
    metas[4] = {**metas[4], "year": 1990}  # a new year, same text
    index = index.update([(ids[3], texts[3], metas[3]), (ids[4], texts[4], metas[4])], [ids[10], ids[160]])
    keep = [i for i in range(200) if i not in (10, 160)]
    rebuilt = KeywordIndex.build([ids[i] for i in keep], [texts[i] for i in keep], [metas[i] for i in keep])
    assert index.delta and index.removed == {ids[10]}  # a delta over main: p160 was only ever in the delta
    assert sorted(index.ids) == sorted(rebuilt.ids) and len(index.slots) > len(index.ids)
    for query in QUERIES:
        assert ranking(index, query) == ranking(rebuilt, query), query
    assert ranking(index, "brain", year_to=1995) == ranking(rebuilt, "brain", year_to=1995)
    assert ranking(index, "vaccine trial")[0][0] == "p3#0"
    assert all(cid not in (ids[10], ids[160]) for query in QUERIES for cid, _ in ranking(index, query))
    assert index.content == rebuilt.content == content_digest([ids[i] for i in keep], [metas[i] for i in keep])
    assert index.summary() == rebuilt.summary() == {**rebuilt.summary(), "papers": 198, "chunks": 198}

    merged = index.merged()
    assert not merged.delta and not merged.removed and len(merged.main.ids) == 198
    for query in QUERIES:
        assert ranking(merged, query) == ranking(rebuilt, query), query


def test_a_delta_far_past_its_limit_is_merged_at_once():
    ids, texts, metas = corpus(5000)
    index = KeywordIndex.build(ids[:10], texts[:10], metas[:10])
    due = index.update([(ids[i], texts[i], metas[i]) for i in range(10, 1500)], [])
    assert due.merge_due() and len(due.delta) == 1490  # past `delta_limit`: left for the background merge
    index = index.update([(ids[i], texts[i], metas[i]) for i in range(10, 5000)], [])
    assert not index.delta and len(index.main.ids) == 5000  # OVERDUE times past it: one main segment now
    assert ranking(index, "cancer") == ranking(KeywordIndex.build(ids, texts, metas), "cancer")


def test_changes_made_during_a_merge_are_kept_on_the_merged_segment():
    ids, texts, metas = corpus(300)
    base = KeywordIndex.build(ids[:200], texts[:200], metas[:200])
    base = base.update([(ids[i], texts[i], metas[i]) for i in range(200, 260)], [ids[5]])
    merged = base.merged()
    # meanwhile: more added, a main row and a delta row changed, a delta row and a main row removed
    texts[7], metas[7] = "vaccine vaccine trial", {**metas[7], "text_hash": "changed7"}
    texts[210], metas[210] = "brain brain neuron", {**metas[210], "text_hash": "changed210"}
    now = base.update([(ids[i], texts[i], metas[i]) for i in (*range(260, 300), 7, 210)], [ids[220], ids[9]])
    rebased = now.rebased(base, merged)
    assert rebased.main is merged.main and len(rebased.delta) == 42 and rebased.content == now.content
    keep = [i for i in range(300) if i not in (5, 9, 220)]
    rebuilt = KeywordIndex.build([ids[i] for i in keep], [texts[i] for i in keep], [metas[i] for i in keep])
    assert sorted(rebased.ids) == sorted(rebuilt.ids) and rebased.summary() == rebuilt.summary()
    for query in QUERIES:
        assert ranking(rebased, query) == ranking(rebuilt, query), query
    with pytest.raises(ValueError, match="another main segment"):
        rebased.rebased(base, merged)  # already on the merged segment: not on `base`'s


def test_saved_delta_and_main_load_back(tmp_path):
    ids, texts, metas = corpus(100)
    folder = tmp_path / "bm25"
    index = KeywordIndex.build(ids[:90], texts[:90], metas[:90])
    index.save(folder)
    marker = (folder / "paperqa_sync.json").stat().st_mtime_ns
    added = index.update([(ids[i], texts[i], metas[i]) for i in range(90, 100)], [ids[0]])
    added.save(folder)
    assert (folder / "paperqa_sync.json").stat().st_mtime_ns == marker  # main is not written again
    loaded = KeywordIndex.load(folder, reuse=(index,))
    assert loaded.main is index.main and loaded.content == added.content
    fresh = KeywordIndex.load(folder)
    assert ranking(fresh, "cancer tumor") == ranking(added, "cancer tumor")
    added.merged().save(folder)
    assert KeywordIndex.load(folder, reuse=(loaded,)).count == 99


def hash_qa(tmp_path) -> PaperQA:
    return PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test")


def paper(i: int, **fields) -> Paper:
    return Paper(paper_id=f"p{i}", title=f"Paper number {i} on {WORDS[i % len(WORDS)]}",
                 abstract=f"We report on {WORDS[i % len(WORDS)]} marker q{i}x.", year=2000 + i % 10, **fields)


def test_adding_a_paper_reads_only_that_papers_chunks(tmp_path, monkeypatch):
    qa = hash_qa(tmp_path)
    qa.ingest_papers([paper(i) for i in range(40)] + [paper(40, doi="10.1/ABC")])
    assert qa.store.keyed()

    def whole_store(*args, **kwargs):
        raise AssertionError("read every chunk's metadata")

    monkeypatch.setattr(Store, "all", whole_store)
    monkeypatch.setattr(Store, "embeddings", whole_store)
    report = qa.ingest_papers([paper(41)])
    assert (report.new_papers, report.chunks_embedded) == (1, 1)
    again = qa.ingest_papers([paper(41)])
    assert (again.unchanged_papers, again.chunks_embedded) == (1, 0)
    # the same paper under another id, found by its DOI: updated in place, not stored twice
    moved = qa.ingest_papers([Paper(paper_id="other", title="Paper number 40 on cell", abstract="New text q40x.",
                                    doi="10.1/abc")])
    assert moved.updated_papers == 1
    assert qa.search("q41x", k=1, mode="bm25")[0].paper_id == "p41"
    assert qa.search("q40x", k=1, mode="bm25")[0].text == "New text q40x."
    assert qa.stats()["papers"] == 42 and qa.undated_count() == 0
    assert qa.remove(["p3"]).removed == ["p3"]
    assert qa.search("q3x", k=5, mode="bm25") == []
    assert qa.stats()["papers"] == 41


def test_paper_states_by_id(tmp_path):
    qa = hash_qa(tmp_path)
    qa.ingest_papers([paper(i) for i in range(5)])
    states = qa.store.paper_states(["p1", "p3", "missing"])
    assert sorted(states) == ["p1", "p3"] and states["p1"].complete
    assert states["p1"].chunks == qa.store.paper_states()["p1"].chunks
    assert qa.store.find_papers("key_title", [title_key(paper(3).title), "no such title"]) == {"p3"}


def test_a_store_written_before_keys_is_read_whole(tmp_path):
    qa = hash_qa(tmp_path)
    qa.ingest_papers([paper(1)])
    collection = qa.store.collection
    kept = {k: v for k, v in collection.metadata.items() if not k.startswith("hnsw:") and k != "paperqa_keyed"}
    collection.modify(metadata={**kept, "paperqa_keyed": False})
    assert not qa.store.keyed()
    assert qa.ingest_papers([paper(1)]).unchanged_papers == 1
    assert qa.reindex()["chunks_keyed"] == 1 and qa.store.keyed()
    assert qa.store.find_papers("key_title", [title_key(paper(1).title)]) == {"p1"}
    assert qa.ingest_papers([paper(1)]).unchanged_papers == 1  # keys added as metadata only: nothing to write


@pytest.mark.parametrize("pending", ["journal", "legacy"])
def test_a_pending_write_is_applied_from_the_store(tmp_path, pending):
    qa = hash_qa(tmp_path)
    qa.ingest_papers([paper(i) for i in range(5)])
    assert qa.search("q2x", k=1, mode="bm25")[0].paper_id == "p2"
    # as a writer killed between the store write and the keyword save: the store has the new text
    from paperqa_local.keyword_sync import mark_pending, pending_path

    mark_pending(qa.store, ["p2#0"] if pending == "journal" else None)
    if pending == "legacy":
        pending_path(qa.store).write_text("")  # an older version's mark: an empty file
    text = "Rewritten with zzword."
    qa.store.add(["p2#0"], [text], HashEmbedder().embed([text]), [{**qa.store.metadatas(["p2#0"])["p2#0"], "text_hash": "new"}])
    reader = hash_qa(tmp_path)
    assert reader.search("zzword", k=1, mode="bm25")[0].paper_id == "p2"
    assert reader.search("q2x", k=5, mode="bm25") == []
    assert not pending_path(qa.store).exists()  # the writer is gone: the reader saved the index and cleared it
    assert KeywordIndex.load(keyword_dir(qa.store)).content == content_digest(
        *(lambda s: (s.ids, s.metadatas))(qa.store.all(include_texts=False)))


def test_a_paper_past_the_delta_limit_is_merged_in_the_background(tmp_path, monkeypatch):
    import threading

    from paperqa_local import keyword, keyword_sync

    monkeypatch.setattr(keyword, "delta_limit", lambda main_rows: 3)
    qa = hash_qa(tmp_path)
    qa.ingest_papers([paper(i) for i in range(20)])
    folder = keyword_dir(qa.store)
    main = KeywordIndex.load(folder).main.digest
    started, release = threading.Event(), threading.Event()
    real_merged = KeywordIndex.merged

    def slow_merge(index):  # the merge holds no lock: ingests and searches go on while it runs
        started.set()
        assert release.wait(30)
        return real_merged(index)

    monkeypatch.setattr(KeywordIndex, "merged", slow_merge)
    for i in range(20, 24):
        qa.ingest_papers([paper(i)])  # the fourth delta row passes the limit: a merge starts, the ingest returns
    assert started.wait(10) and KeywordIndex.load(folder).main.digest == main
    qa.ingest_papers([paper(24)])
    qa.ingest_papers([Paper(paper_id="p21", title="Paper number 21 changed", abstract="Now about zzquark.", year=2001)])
    assert qa.remove(["p22", "p3"]).removed == ["p22", "p3"]
    assert qa.search("q24x", k=1, mode="bm25")[0].paper_id == "p24"  # searched during the merge
    release.set()
    keyword_sync.wait_for_merges(30)
    saved = KeywordIndex.load(folder)
    assert saved.main.digest != main and len(saved.main.ids) == 24  # p0..p23 merged, p24 and the changes after
    assert set(saved.delta) == {"p24#0", "p21#0"} and saved.removed == {"p22#0", "p3#0"}
    stored = qa.store.all(include_texts=False)
    assert sorted(saved.ids) == sorted(stored.ids) and saved.content == content_digest(stored.ids, stored.metadatas)
    reader = hash_qa(tmp_path)
    assert reader.search("zzquark", k=1, mode="bm25")[0].paper_id == "p21"
    assert reader.search("q22x", k=5, mode="bm25") == [] and reader.search("q21x", k=5, mode="bm25") == []
    assert reader.search("q23x", k=1, mode="bm25")[0].paper_id == "p23"
    assert qa.stats()["papers"] == 23

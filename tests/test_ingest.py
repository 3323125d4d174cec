"""Ingest into a real Chroma on disk: idempotent, incremental, safe with bad input, keyword index in sync."""

import json
import shutil

from paperqa_local import PaperQA
from paperqa_local.ingest import chunk_paper
from paperqa_local.keyword_sync import keyword_dir
from paperqa_local.types import Paper

from .conftest import SEEDS, HashEmbedder


def _qa(path, embedder):
    return PaperQA(data_dir=path, embedder=embedder, embedding_model="hash-test")


def test_reingest_embeds_nothing_and_adding_a_file_embeds_only_new_papers(tmp_path):
    embedder = HashEmbedder()
    qa = _qa(tmp_path / "d", embedder)
    first = qa.ingest([SEEDS])
    assert (first.new_papers, first.duplicates) == (295, 28)
    assert qa.stats()["papers"] == 295
    chunks = qa.stats()["chunks"]

    embedded = embedder.texts_embedded
    again = qa.ingest([SEEDS])
    assert (again.new_papers, again.unchanged_papers, again.chunks_embedded) == (0, 295, 0)
    assert embedder.texts_embedded == embedded

    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"title": "A brand new paper on tide pools", "abstract": "We study tide pools."}) + "\n")
    third = qa.ingest([SEEDS, extra])
    assert (third.new_papers, third.unchanged_papers, third.chunks_embedded) == (1, 295, 1)
    assert embedder.texts_embedded == embedded + 1
    assert qa.stats()["papers"] == 296 and qa.stats()["chunks"] == chunks + 1


def test_store_survives_a_new_process(tmp_path):
    _qa(tmp_path / "d", HashEmbedder()).ingest([SEEDS / "000_8b0c47536576a6c6.txt"])
    reopened = _qa(tmp_path / "d", HashEmbedder())
    assert reopened.stats()["papers"] == 39
    assert reopened.search("Markov jump processes zero-shot inference", k=1)[0].title == \
        "Foundation Inference Models for Markov Jump Processes"


def test_malformed_file_beside_good_ones_loses_nothing(tmp_path):
    qa = _qa(tmp_path / "d", HashEmbedder())
    qa.ingest([SEEDS / "000_8b0c47536576a6c6.txt"])
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "good.jsonl").write_text(json.dumps({"title": "Good paper", "abstract": "Solid text about corals."}) + "\n")
    (folder / "bad.jsonl").write_text("{broken\n" + json.dumps({"title": "Fine one", "abstract": "About sponges."}) + "\n")
    (folder / "bad.csv").write_text("oops,header\n1,2\n")
    (folder / "latin1.txt").write_bytes("Caf\xe9 title\n\n".encode("latin-1") + b"x" * 100)
    report = qa.ingest([folder])
    assert report.new_papers == 2
    reasons = {(p.source.split("/")[-1], p.location): p.reason for p in report.problems}
    assert reasons[("bad.jsonl", "line 1")].startswith("invalid JSON")
    assert "'title' and 'abstract'" in reasons[("bad.csv", "line 1")]
    assert "UTF-8" in reasons[("latin1.txt", "file")]
    assert qa.stats()["papers"] == 39 + 2


def test_changed_abstract_replaces_the_old_chunks(tmp_path):
    qa = _qa(tmp_path / "d", HashEmbedder())
    long_text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(120))
    paper = Paper(paper_id="p1", title="Growing paper", abstract=long_text)
    qa.ingest_papers([paper])
    assert qa.stats()["chunks"] == len(chunk_paper(paper, qa.settings.chunk_chars)) > 1
    short = Paper(paper_id="p1", title="Growing paper", abstract="Now it is short.")
    report = qa.ingest_papers([short])
    assert report.updated_papers == 1
    assert qa.stats()["chunks"] == 1
    assert qa.search("short", k=1)[0].text == "Now it is short."


def test_keyword_index_out_of_sync_is_rebuilt(tmp_path):
    qa = _qa(tmp_path / "d", HashEmbedder())
    qa.ingest([SEEDS / "000_8b0c47536576a6c6.txt"])
    shutil.rmtree(keyword_dir(qa.store))  # as after a crash between the two writes
    fresh = _qa(tmp_path / "d", HashEmbedder())
    hits = fresh.search("Deoxys unhealthy node mitigation", k=1, mode="bm25")
    assert hits[0].title.startswith("Deoxys")
    assert keyword_dir(qa.store).exists()


def test_long_abstract_splits_on_sentence_boundaries():
    text = "First sentence is here. " * 80
    chunks = chunk_paper(Paper(paper_id="x", title="T", abstract=text.strip()), 500)
    assert len(chunks) > 1
    assert all(c.text.endswith(".") and len(c.text) <= 500 for c in chunks)
    assert " ".join(c.text for c in chunks) == text.strip()


def test_count_is_kept_while_the_store_is_unchanged_and_sees_another_writer(tmp_path, monkeypatch):
    import time

    from paperqa_local import store as store_module

    monkeypatch.setattr(store_module, "QUIET_S", 0.05)
    papers = [Paper(paper_id=f"p{i}", title=f"Paper {i}", abstract=f"Finding number {i} about topic {i}.") for i in range(3)]
    reader = _qa(tmp_path / "d", HashEmbedder())
    reader.ingest_papers(papers)
    counts = []
    collection_type = type(reader.store.collection)
    real_count = collection_type.count
    monkeypatch.setattr(collection_type, "count", lambda self: counts.append(1) or real_count(self))
    time.sleep(0.1)
    assert [reader.store.count() for _ in range(5)] == [3] * 5
    assert len(counts) == 1  # Chroma counted once: the database files did not change
    writer = _qa(tmp_path / "d", HashEmbedder())
    writer.ingest_papers([Paper(paper_id="p9", title="Late paper", abstract="A zebrafish finding added later.")])
    time.sleep(0.1)
    assert reader.store.count() == 4 and len(counts) == 2
    assert reader.search("zebrafish finding", k=1, mode="bm25")[0].paper_id == "p9"
    writer.remove(["p0"])
    time.sleep(0.1)
    assert reader.store.count() == 3

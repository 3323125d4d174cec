"""A researcher's library survives kills, and two writers: real processes, real Chroma on disk, SIGKILL.

The store is compared with a clean ingest of the same input (same chunk ids, texts, metadata and vectors),
and the keyword index with the store's content (its digest, and a search for words that changed).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from paperqa_local import PaperQA
from paperqa_local.keyword import KeywordIndex, content_digest
from paperqa_local.keyword_sync import keyword_dir

from ..conftest import ROOT, HashEmbedder

SENTENCE = "This sentence pads the abstract so that it fills a chunk of its own and then some more words follow. "


def word(n: int) -> str:
    """A made-up word per number, one syllable per base-16 digit (letters the stemmer leaves alone): a paper's
    own keyword, found in no other paper."""
    letters = ""
    while True:
        n, digit = divmod(n, 16)
        letters += "bcdf"[digit // 4] + "aiou"[digit % 4]
        if not n:
            return "q" + letters


def record(i: int, version: int = 0, chunks: int = 1) -> dict:
    body = f"We study the {word(i)} effect, revision {word(100000 + version)}. "
    return {"id": f"p{i}", "title": f"On the {word(i)} problem, part {i}", "year": 2000 + i % 25,
            "abstract": body + SENTENCE * (12 * (chunks - 1))}


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def hash_qa(data_dir: Path) -> PaperQA:
    return PaperQA(data_dir=data_dir, embedder=HashEmbedder(), embedding_model="hash-test")


def contents(qa: PaperQA) -> dict[str, tuple[str, dict]]:
    stored = qa.store.all()
    return {cid: (text, meta) for cid, text, meta in zip(stored.ids, stored.texts, stored.metadatas)}


def vectors(qa: PaperQA) -> dict[str, np.ndarray]:
    ids, matrix, _ = qa.store.embeddings()
    return dict(zip(ids, matrix))


def assert_keyword_index_agrees(qa: PaperQA) -> None:
    stored = qa.store.all(include_texts=False)
    saved = KeywordIndex.load(keyword_dir(qa.store))
    assert saved is not None and saved.content == content_digest(stored.ids, stored.metadatas)
    assert sorted(saved.ids) == sorted(stored.ids)


def top_paper(qa: PaperQA, query: str) -> str | None:
    hits = qa.search(query, k=1, mode="bm25")
    return hits[0].paper_id if hits else None


def run_fault(data_dir: Path, path: Path, point: str, n: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tests.reliability.fault_ingest", str(data_dir), str(path), point, str(n), "hash"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_kill_between_two_store_batches_loses_no_part_of_a_paper(tmp_path):
    # 998 one-chunk papers, then a 6-chunk paper across chunk 1,000 (the store writes 1,000 chunks a batch)
    records = [record(i) for i in range(998)] + [record(998, chunks=6)] + [record(i) for i in range(999, 1004)]
    source = write(tmp_path / "papers.jsonl", records)
    clean = hash_qa(tmp_path / "clean")
    clean.ingest([source])
    assert clean.stats()["chunks"] == 1009

    killed = run_fault(tmp_path / "d", source, "batch", 1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    half = hash_qa(tmp_path / "d")
    assert half.store.count() == 1000  # the first batch, with two of the six chunks of p998

    report = half.ingest([source])
    assert report.unchanged_papers == 998 and report.new_papers == 6
    assert report.chunks_embedded == 9  # the four missing chunks of p998 and the five of p999…p1003: none twice
    assert contents(half) == contents(clean)
    clean_vectors = vectors(clean)
    assert all(np.allclose(vec, clean_vectors[cid]) for cid, vec in vectors(half).items())
    assert_keyword_index_agrees(half)
    last_chunk = contents(clean)["p998#5"][0]
    assert last_chunk and top_paper(half, f"{word(998)} revision") == "p998"


def test_kill_before_the_keyword_save_never_leaves_stale_keyword_text(tmp_path):
    records = [record(i) for i in range(50)]
    reader = hash_qa(tmp_path / "d")  # a long-lived reader, e.g. the UI, open during the crash
    reader.ingest([write(tmp_path / "papers.jsonl", records)])
    assert top_paper(reader, word(100000)) is not None

    records[7] = record(7, version=1)  # the abstract changed in place: same paper id, same chunk id
    killed = run_fault(tmp_path / "d", write(tmp_path / "papers.jsonl", records), "store-written", 1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    for qa in (reader, hash_qa(tmp_path / "d")):
        assert top_paper(qa, word(100001)) == "p7"  # the new word is found
        assert all(hit.paper_id != "p7" for hit in qa.search(f"{word(7)} {word(100000)}", k=50, mode="bm25")
                   if word(100000) in hit.text)
    again = hash_qa(tmp_path / "d").ingest([tmp_path / "papers.jsonl"])
    assert (again.unchanged_papers, again.chunks_embedded) == (50, 0)
    assert_keyword_index_agrees(hash_qa(tmp_path / "d"))


def test_a_long_lived_reader_reads_every_vector_after_another_process_writes(tmp_path):
    records = [record(i, chunks=3 if i % 4 == 0 else 1) for i in range(300)]
    reader = hash_qa(tmp_path / "d")  # e.g. the UI, whose map reads every vector
    reader.ingest([write(tmp_path / "papers.jsonl", records)])
    assert len(vectors(reader)) == reader.store.count()
    for i in range(0, 300, 3):
        records[i] = record(i, version=1, chunks=2)
    done = run_fault(tmp_path / "d", write(tmp_path / "papers.jsonl", records), "never", 1)
    assert "finished without reaching the fault point" in done.stderr, done.stderr
    assert set(vectors(reader)) == set(contents(hash_qa(tmp_path / "d")))  # a stale client failed here


def test_renamed_file_embeds_nothing_and_a_shortened_paper_loses_its_old_chunks(tmp_path):
    qa = hash_qa(tmp_path / "d")
    records = [record(i, chunks=3 if i % 5 == 0 else 1) for i in range(20)]
    qa.ingest([write(tmp_path / "a.jsonl", records)])
    (tmp_path / "a.jsonl").rename(tmp_path / "b.jsonl")
    renamed = qa.ingest([tmp_path / "b.jsonl"])
    assert (renamed.updated_papers, renamed.chunks_embedded) == (20, 0)  # new `source`, same vectors
    assert {meta["source"] for _, meta in contents(qa).values()} == {"b.jsonl"}

    records[0] = record(0, version=2)
    shorter = qa.ingest([write(tmp_path / "b.jsonl", records)])
    assert (shorter.updated_papers, shorter.chunks_embedded) == (1, 1)
    assert not any(cid.startswith("p0#") and cid != "p0#0" for cid in contents(qa))
    clean = hash_qa(tmp_path / "clean")
    clean.ingest([tmp_path / "b.jsonl"])
    assert contents(qa) == contents(clean)
    assert_keyword_index_agrees(qa)


# --- real processes: the CLI, the real MiniLM embedder, SIGKILL at random moments

def cli(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PAPERQA_LOCAL_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "paperqa_local", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return err


def real_qa(home: Path) -> PaperQA:
    return PaperQA(data_dir=home)


@pytest.mark.slow
def test_twenty_random_sigkills_during_ingest_then_rerun_match_a_clean_ingest(tmp_path):
    rng = random.Random(11)
    records = [record(i, chunks=rng.choice([1] * 9 + [3, 5])) for i in range(1000)]
    source = tmp_path / "library.jsonl"
    home = tmp_path / "home"
    kills = 0
    started = time.perf_counter()
    finish(cli(tmp_path / "timing", "ingest", str(write(source, records))))
    full = time.perf_counter() - started  # a whole ingest of the 1,000 papers, startup included
    cycle, work, longest = 0, full, 0.0
    while kills < 20 and cycle < 40:
        if cycle:  # change abstracts in place (some grow or shrink), add papers: work for the killed run
            for i in rng.sample(range(len(records)), 150):
                records[i] = record(i, version=cycle, chunks=rng.choice([1, 1, 1, 2, 4]))
            records += [record(len(records) + j) for j in range(20)]
            write(source, records)
        proc = cli(home, "ingest", str(source))
        time.sleep(rng.uniform(0.2, 0.95) * work)  # a moment inside a run as long as the last whole one
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate()
        started = time.perf_counter()
        finish(cli(home, "ingest", str(source)))
        if cycle:  # a re-run after an early kill redoes the whole cycle's work: the longest is the best guess
            longest = max(longest, time.perf_counter() - started)
            work = longest
        cycle += 1
        qa = real_qa(home)
        stored = contents(qa)
        assert {meta["paper_id"] for _, meta in stored.values()} == {r["id"] for r in records}
        for r in records:
            pid = r["id"]
            chunk_texts = [text for cid, (text, meta) in sorted(stored.items(), key=lambda kv: kv[1][1]["position"])
                           if meta["paper_id"] == pid]
            assert " ".join(chunk_texts) == r["abstract"].strip(), pid
        assert_keyword_index_agrees(qa)
        changed = records[-1]
        assert top_paper(qa, changed["abstract"].split(",")[0]) == changed["id"]
    assert kills >= 20
    clean = tmp_path / "clean"
    finish(cli(clean, "ingest", str(source)))
    looped, fresh = real_qa(home), real_qa(clean)
    assert contents(looped) == contents(fresh)
    fresh_vectors = vectors(fresh)
    assert all(np.allclose(vec, fresh_vectors[cid], atol=1e-5) for cid, vec in vectors(looped).items())


@pytest.mark.slow
def test_two_ingest_processes_into_one_data_directory_are_serialised(tmp_path):
    first = write(tmp_path / "first.jsonl", [record(i) for i in range(300)])
    second = write(tmp_path / "second.jsonl", [record(i, chunks=2) for i in range(200, 500)])  # 100 papers in both
    home = tmp_path / "home"
    for err in (finish(proc) for proc in [cli(home, "ingest", str(first)), cli(home, "ingest", str(second))]):
        assert "Traceback" not in err
    # the lock decides which of the two writes first, and that order decides the 100 shared papers (the later
    # file's version replaces the earlier's): the result is a clean ingest in one of the two orders, never a mix
    together = {cid: text for cid, (text, _) in contents(real_qa(home)).items()}
    in_order = []
    for name, files in (("first-then-second", (first, second)), ("second-then-first", (second, first))):
        for path in files:
            finish(cli(tmp_path / name, "ingest", str(path)))
        in_order.append({cid: text for cid, (text, _) in contents(real_qa(tmp_path / name)).items()})
    assert in_order[0] != in_order[1]  # the two orders are told apart by the shared papers
    assert together in in_order
    together = real_qa(home)
    assert_keyword_index_agrees(together)


@pytest.mark.slow
def test_a_second_writer_waits_for_the_first_and_says_so(tmp_path):
    home = tmp_path / "home"
    holder = PaperQA(data_dir=home, embedder=HashEmbedder(), embedding_model="hash-test")
    source = write(tmp_path / "papers.jsonl", [record(i) for i in range(5)])
    with holder.store.writing():
        proc = cli(home, "ingest", str(source))
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.extend(iter(proc.stderr.readline, "")), daemon=True)
        reader.start()
        deadline = time.monotonic() + 180
        while not any("another process is writing to" in line for line in said) and time.monotonic() < deadline:
            assert proc.poll() is None, "".join(said)  # it waits; it does not write, fail or give up
            time.sleep(0.5)
        assert any("waiting for it to finish" in line for line in said), "".join(said)
    assert proc.wait(timeout=300) == 0, "".join(said)
    assert real_qa(home).stats()["papers"] == 5

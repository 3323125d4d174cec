"""Freed heap goes back to the system after answers: `memory.release_freed` trims glibc's arenas, at most once
per interval, and the facade calls it after every answer, check and decision."""

from __future__ import annotations

import ctypes.util
import threading
from pathlib import Path

import pytest

from paperqa_local import memory


def rss_mib() -> int:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) // 1024


@pytest.mark.skipif(not ctypes.util.find_library("c"), reason="needs glibc (Linux)")
def test_memory_a_thread_freed_goes_back_to_the_system():
    def work():  # a thread's many small allocations land in its own arena, which glibc keeps when they are freed
        held = [bytes(1000 + n % 7) for n in range(200_000)]
        del held

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    before = rss_mib()
    assert memory.release_freed(force=True)
    assert rss_mib() < before - 100, (before, rss_mib())


def test_trimming_runs_at_most_once_an_interval(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "_trim", calls.append)
    monkeypatch.setattr(memory, "_last", 0.0)
    clock = iter([1000.0, 1005.0, 1000.0 + memory.INTERVAL_S + 1])
    monkeypatch.setattr(memory.time, "monotonic", lambda: next(clock))
    assert memory.release_freed() and not memory.release_freed() and memory.release_freed()
    assert calls == [0, 0]
    monkeypatch.setattr(memory, "_trim", False)  # not glibc: nothing to do
    assert not memory.release_freed(force=True)


def test_the_facade_trims_after_each_answer(tmp_path, monkeypatch):
    from paperqa_local import PaperQA, qa as qa_module
    from paperqa_local.types import Paper

    from .conftest import HashEmbedder, ScriptedLLM

    calls = []
    monkeypatch.setattr(qa_module, "release_freed", lambda: calls.append("trim"))
    llm = ScriptedLLM("Juvenile fish grow faster in warm tide pools [1].")
    qa = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm, min_relevance=0.1)
    qa.ingest_papers([Paper("p-tides", "Tide pools as nurseries", "Juvenile fish grow faster in warm tide pools.")])
    answer = qa.ask("Do juvenile fish grow faster in warm tide pools?")
    assert answer.citations and calls == ["trim"]

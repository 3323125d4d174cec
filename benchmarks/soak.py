"""Soak: several threads ask through several `PaperQA` objects for a long time; memory must stay flat.

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--threads 4] [--facades 2] [--model fast] [--data-dir DIR]
                                        [--trace] [--trim]

Asks the seeds questions of benchmarks/data/seeds_questions.jsonl in turn (answers, claim checks and searches
mixed), over the seeds index (built in a temporary folder unless --data-dir holds one). Prints the process's
resident memory every 30 s and, at the end, RSS at the first and last quarter of the run (before its deadline),
questions answered, errors, and answers whose question is not the one asked (mixed up). Writes
benchmarks/results/soak-<model>[-trace][-trim].json. The app hands freed heap back after answers itself
(`paperqa_local.memory`); --trim adds a trim before each sample.

To tell where growth comes from: --trace also records the memory Python objects hold (tracemalloc) at each
sample and the 15 source lines whose allocations grew most between the second sample and the end; --trim hands
freed heap back to the system (glibc `malloc_trim`) before each sample, so growth that is only freed memory the
allocator kept shows as none.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--facades", type=int, default=2, help="PaperQA objects the threads share (round robin)")
    parser.add_argument("--model", default="fast")
    parser.add_argument("--data-dir", type=Path, default=None, help="an existing seeds index (else built now)")
    parser.add_argument("--trace", action="store_true", help="record Python's own allocations (tracemalloc)")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) before each sample")
    args = parser.parse_args()
    trim = ctypes.CDLL("libc.so.6").malloc_trim if args.trim else None

    from paperqa_local import PaperQA

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="soak-"))
    if args.data_dir is None:
        PaperQA(data_dir=data_dir).ingest([ROOT / "seeds"])
    questions = [json.loads(line)["question"] for line in (ROOT / "benchmarks/data/seeds_questions.jsonl").read_text().splitlines()
                 if line.strip() and not json.loads(line).get("history")]
    facades = [PaperQA(data_dir=data_dir, model=args.model) for _ in range(args.facades)]
    facades[0].warm_up()

    deadline = time.monotonic() + 60 * args.minutes
    lock = threading.Lock()
    counts = {"asked": 0, "checked": 0, "searched": 0, "errors": 0, "mixed": 0}
    samples: list[tuple[float, ...]] = []
    baseline = None  # tracemalloc snapshot at the second sample, after the first answers filled the caches
    if args.trace:
        tracemalloc.start(5)
    started = time.monotonic()

    def worker(n: int) -> None:
        qa, i = facades[n % len(facades)], n
        while time.monotonic() < deadline:
            question = questions[i % len(questions)]
            i += args.threads
            try:
                if i % 5 == 0:
                    qa.check(question.rstrip("?") + ".", explain=False)
                    kind, mixed = "checked", False
                elif i % 7 == 0:
                    qa.search(question, k=5)
                    kind, mixed = "searched", False
                else:
                    answer = qa.ask(question)
                    kind, mixed = "asked", answer.question != " ".join(question.split())
            except Exception as exc:  # noqa: BLE001 - counted and printed, the soak goes on
                print(f"error: {exc!r}", flush=True)
                kind, mixed = "errors", False
            with lock:
                counts[kind] += 1
                counts["mixed"] += mixed

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        time.sleep(30 if time.monotonic() + 30 < deadline else 1)
        if trim:
            trim(0)
        traced = tracemalloc.get_traced_memory()[0] / 2**20 if args.trace else None
        samples.append((round(time.monotonic() - started, 1), round(rss_mib(), 1), *(() if traced is None else (round(traced, 1),))))
        if args.trace and len(samples) == 2:
            baseline = tracemalloc.take_snapshot()
        print(f"{samples[-1][0]:7.0f} s  RSS {samples[-1][1]:8.1f} MiB" + (f"  Python {traced:7.1f} MiB" if args.trace else "")
              + f"  {counts}", flush=True)

    grew = []
    if baseline is not None:
        stats = tracemalloc.take_snapshot().compare_to(baseline, "lineno")
        grew = [{"where": str(stat.traceback[0]), "grew_kib": round(stat.size_diff / 1024, 1), "count_diff": stat.count_diff}
                for stat in stats[:15]]
        for row in grew:
            print(f"  {row['grew_kib']:10.1f} KiB  {row['count_diff']:+8d}  {row['where']}")
    running = [s for s in samples if s[0] <= 60 * args.minutes] or samples  # not the wind-down, sampled each second
    quarter = max(1, len(running) // 4)
    first, last = statistics.median(s[1] for s in running[:quarter]), statistics.median(s[1] for s in running[-quarter:])
    result = {
        "command": " ".join(["benchmarks/soak.py", *sys.argv[1:]]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.processor() or platform.platform()}, {__import__('os').cpu_count()} CPUs",
        "minutes": args.minutes, "threads": args.threads, "facades": args.facades, "model": args.model,
        "trace": args.trace, "trim": args.trim, **counts, "rss_first_quarter_mib": first, "rss_last_quarter_mib": last,
        "rss_growth_mib": round(last - first, 1), "python_grew_most": grew,
        "sample_fields": ["seconds", "rss_mib", *(["python_mib"] if args.trace else [])], "samples": samples,
    }
    print(f"RSS first quarter {first:.0f} MiB, last quarter {last:.0f} MiB (growth {last - first:+.0f} MiB); {counts}")
    out = ROOT / "benchmarks" / "results" / f"soak-{args.model}{'-trace' if args.trace else ''}{'-trim' if args.trim else ''}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 1 if counts["errors"] or counts["mixed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

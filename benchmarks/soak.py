"""Soak: several threads ask through several `PaperQA` objects for a long time; memory must stay flat.

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--threads 4] [--facades 2] [--model fast] [--data-dir DIR]

Asks the seeds questions of benchmarks/data/seeds_questions.jsonl in turn (answers, claim checks and searches
mixed), over the seeds index (built in a temporary folder unless --data-dir holds one). Prints the process's
resident memory every 30 s and, at the end, RSS at the first and last quarter, questions answered, errors, and
answers whose question is not the one asked (mixed up). Writes benchmarks/results/soak-<model>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
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
    args = parser.parse_args()

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
    samples: list[tuple[float, float]] = []
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
        samples.append((round(time.monotonic() - started, 1), round(rss_mib(), 1)))
        print(f"{samples[-1][0]:7.0f} s  RSS {samples[-1][1]:8.1f} MiB  {counts}", flush=True)

    quarter = max(1, len(samples) // 4)
    first, last = statistics.median(r for _, r in samples[:quarter]), statistics.median(r for _, r in samples[-quarter:])
    result = {
        "command": " ".join(["benchmarks/soak.py", *sys.argv[1:]]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.processor() or platform.platform()}, {__import__('os').cpu_count()} CPUs",
        "minutes": args.minutes, "threads": args.threads, "facades": args.facades, "model": args.model,
        **counts, "rss_first_quarter_mib": first, "rss_last_quarter_mib": last,
        "rss_growth_mib": round(last - first, 1), "samples": samples,
    }
    print(f"RSS first quarter {first:.0f} MiB, last quarter {last:.0f} MiB (growth {last - first:+.0f} MiB); {counts}")
    out = ROOT / "benchmarks" / "results" / f"soak-{args.model}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 1 if counts["errors"] or counts["mixed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

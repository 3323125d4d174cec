"""Concurrent chat clients through the served Gradio app (`/ask` over gradio_client), with (a) the in-process model,
(b) llama_cpp.server processes and (c) one llama-server with parallel slots, started by
scripts/serve_llm.sh (`llm_base_url`, `llm_slots`). Every request must come back answered,
for its own question; prints throughput and p50/p95 latency per setup and writes the JSON.

    .venv/bin/python benchmarks/load.py --data-dir DIR [--clients 8] [--servers 2[,4…]] [--model fast]
                                        [--rounds R] [--direct] [--n-gpu-layers L] [--out FILE]
                                        [--llama-server BIN [--parallel P]]

DIR holds an index of the seeds (`paperqa-local --data-dir DIR ingest seeds/`); the questions are dev questions
of benchmarks/data/seeds_questions.jsonl, all clients starting at once, each asking `--rounds` of them one after
another (a client sends its next question when its answer is back). `--direct`: the clients are threads asking one
`PaperQA` of this process (the facade that the app's `/ask` calls, with the same one-answer-per-server limit),
not the served app through gradio_client: for a machine without Gradio (the GPU image). `--n-gpu-layers -1`
puts the servers' model on the GPU.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from paperqa_local.hardware import machine  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(log: Path, text: str, process: subprocess.Popen, what: str, seconds: float = 600) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = log.read_text(errors="replace")
        if text in found:
            return found
        if process.poll() is not None:
            raise SystemExit(f"{what} exited:\n{found[-3000:]}")
        time.sleep(0.5)
    raise SystemExit(f"{what} did not start within {seconds:.0f} s")


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own process group: stopped with everything it started


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_setup(name: str, args, questions: list[list[str]], tmp: Path, env_extra: dict) -> dict:
    ask_all = run_direct if args.direct else run_app
    started = time.perf_counter()
    results, wall = ask_all(name, args, questions, tmp, env_extra)
    latencies = sorted(r["seconds"] for r in results)
    own = sum(1 for r in results if r["answered_question"] == " ".join(r["question"].split()) and r["text"].strip())
    summary = {"setup": name, "requests": len(results), "answered_own_question": own, "wall_s": round(wall, 2),
               "throughput_per_min": round(60 * len(results) / wall, 2),
               "requests_per_s": round(len(results) / wall, 3),
               "p50_s": round(statistics.median(latencies), 2),
               "p95_s": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 2),
               "setup_s": round(time.perf_counter() - started - wall, 1), "answers": results}
    print(f"{name}: {own}/{len(results)} answered, {summary['throughput_per_min']}/min ({summary['requests_per_s']}/s), "
          f"p50 {summary['p50_s']} s, p95 {summary['p95_s']} s", flush=True)
    return summary


def clients(ask, questions: list[list[str]]) -> tuple[list[dict], float]:
    """Each client's questions one after another, all clients at once; the answers and the wall time."""
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(questions)) as pool:
        done = list(pool.map(lambda mine: [ask(question) for question in mine], questions))
    return [result for mine in done for result in mine], time.perf_counter() - started


class Slots:
    """N answers at once, handed out first come, first served (as Gradio's queue does; a semaphore has no order)."""

    def __init__(self, n: int):
        self.free, self.waiting, self.turn = n, collections.deque(), threading.Condition()

    def __enter__(self) -> None:
        with self.turn:
            token = object()
            self.waiting.append(token)
            self.turn.wait_for(lambda: self.free and self.waiting[0] is token)
            self.waiting.popleft()
            self.free -= 1
            self.turn.notify_all()

    def __exit__(self, *exc) -> None:
        with self.turn:
            self.free += 1
            self.turn.notify_all()


def run_direct(name: str, args, questions: list[list[str]], tmp: Path, env_extra: dict) -> tuple[list[dict], float]:
    from paperqa_local import PaperQA

    overrides = {"llm_base_url": env_extra["PAPERQA_LOCAL_LLM_BASE_URL"],
                 "llm_slots": int(env_extra["PAPERQA_LOCAL_LLM_SLOTS"])} if env_extra else {}
    qa = PaperQA(data_dir=args.data_dir, model=args.model, **overrides)
    qa.warm_up()
    qa.ask(questions[0][0])  # the first answer loads what is loaded lazily (embedder, keyword index)
    slots = Slots(qa.answer_slots())  # as the app's concurrency limit on /ask: first come, first served

    def ask(question: str) -> dict:
        sent = time.perf_counter()
        with slots:
            answer = qa.ask(question)
        return {"question": question, "answered_question": answer.question, "seconds": time.perf_counter() - sent,
                "answerable": answer.answerable, "text": answer.text}

    return clients(ask, questions)


def run_app(name: str, args, questions: list[list[str]], tmp: Path, env_extra: dict) -> tuple[list[dict], float]:
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1", **env_extra}
    log = tmp / f"app-{name}.log"
    app = start([sys.executable, "app.py", "--port", str(port), "--data-dir", args.data_dir, "--model", args.model], env, log)
    try:
        wait_for(log, "models loaded", app, "app.py")
        url = f"http://127.0.0.1:{port}/"
        while True:
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                time.sleep(0.5)

        def ask(question: str) -> dict:
            sent = time.perf_counter()
            answer = Client(url, verbose=False).predict(question, api_name="/ask")
            return {"question": question, "answered_question": answer.get("question"), "seconds": time.perf_counter() - sent,
                    "answerable": answer.get("answerable"), "text": answer.get("text", "")}

        return clients(ask, questions)
    finally:
        stop(app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--servers", default="2", help="llama.cpp servers of each server setup, comma-separated")
    parser.add_argument("--model", default="fast")
    parser.add_argument("--rounds", type=int, default=1, help="questions each client asks, one after another")
    parser.add_argument("--direct", action="store_true", help="threads ask one PaperQA here, not the served app")
    parser.add_argument("--n-gpu-layers", default="0", help="the servers' --n-gpu-layers (-1: all on the GPU)")
    parser.add_argument("--llama-server", default="", help="also a setup of one llama-server (this binary) with --parallel slots")
    parser.add_argument("--parallel", type=int, default=4, help="the llama-server's parallel slots (llm_slots)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load-cpu.json"))
    args = parser.parse_args()
    rows = [json.loads(line) for line in (ROOT / "benchmarks" / "data" / "seeds_questions.jsonl").open()]
    dev = [row["question"] for row in rows if row.get("split") == "dev" and not row.get("history")]
    questions = [[dev[(c + r * args.clients) % len(dev)] for r in range(args.rounds)] for c in range(args.clients)]
    tmp = Path(tempfile.mkdtemp(prefix="paperqa-load-"))
    results = [run_setup("a: in-process", args, questions, tmp, {})]
    setups = [(f"b: {count} llama_cpp.server", ["--servers", str(count)], 1)
              for count in [int(n) for n in args.servers.split(",") if n.strip()]]
    if args.llama_server:
        setups.append((f"c: 1 llama-server, {args.parallel} slots",
                       ["--llama-server", args.llama_server, "--parallel", str(args.parallel)], args.parallel))
    for name, options, slots in setups:
        log = tmp / f"servers-{len(results)}.log"
        servers = start(["scripts/serve_llm.sh", "--model", args.model, *options, "--port", str(free_port()),
                         "--n-gpu-layers", args.n_gpu_layers], dict(os.environ), log)
        try:
            found = wait_for(log, "PAPERQA_LOCAL_LLM_BASE_URL=", servers, "serve_llm.sh")
            urls = found.split("PAPERQA_LOCAL_LLM_BASE_URL=", 1)[1].split()[0]
            results.append(run_setup(name, args, questions, tmp,
                                     {"PAPERQA_LOCAL_LLM_BASE_URL": urls, "PAPERQA_LOCAL_LLM_SLOTS": str(slots)}))
        finally:
            stop(servers)
    record = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "date": datetime.date.today().isoformat(),
              "machine": machine(), "clients": args.clients, "rounds": args.rounds, "direct": args.direct,
              "model": args.model, "results": results}
    Path(args.out).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

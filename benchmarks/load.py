"""Concurrent chat clients through the served Gradio app (`/ask` over gradio_client), with (a) the in-process model
and (b) llama.cpp servers started by scripts/serve_llm.sh (`llm_base_url`). Every request must come back answered,
for its own question; prints throughput and p50/p95 latency per setup and writes the JSON.

    .venv/bin/python benchmarks/load.py --data-dir DIR [--clients 8] [--servers 2] [--model fast]

DIR holds an index of the seeds (`paperqa-local --data-dir DIR ingest seeds/`); the questions are the first
`--clients` dev questions of benchmarks/data/seeds_questions.jsonl, one per client, all sent at once.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
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


def run_setup(name: str, args, questions: list[str], tmp: Path, env_extra: dict) -> dict:
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

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(len(questions)) as pool:
            results = list(pool.map(ask, questions))
        wall = time.perf_counter() - started
    finally:
        stop(app)
    latencies = sorted(r["seconds"] for r in results)
    own = sum(1 for r in results if r["answered_question"] == " ".join(r["question"].split()) and r["text"].strip())
    summary = {"setup": name, "requests": len(questions), "answered_own_question": own, "wall_s": round(wall, 2),
               "throughput_per_min": round(60 * len(questions) / wall, 2),
               "p50_s": round(statistics.median(latencies), 2),
               "p95_s": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 2),
               "answers": results}
    print(f"{name}: {own}/{len(questions)} answered, {summary['throughput_per_min']}/min, "
          f"p50 {summary['p50_s']} s, p95 {summary['p95_s']} s", flush=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--servers", type=int, default=2, help="llama.cpp servers for setup (b)")
    parser.add_argument("--model", default="fast")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load-cpu.json"))
    args = parser.parse_args()
    rows = [json.loads(line) for line in (ROOT / "benchmarks" / "data" / "seeds_questions.jsonl").open()]
    questions = [row["question"] for row in rows if row.get("split") == "dev"][: args.clients]
    tmp = Path(tempfile.mkdtemp(prefix="paperqa-load-"))
    results = [run_setup("a: in-process", args, questions, tmp, {})]
    llm_port = free_port()
    log = tmp / "servers.log"
    servers = start(["scripts/serve_llm.sh", "--model", args.model, "--servers", str(args.servers), "--port", str(llm_port)],
                    dict(os.environ), log)
    try:
        found = wait_for(log, "PAPERQA_LOCAL_LLM_BASE_URL=", servers, "serve_llm.sh")
        urls = found.split("PAPERQA_LOCAL_LLM_BASE_URL=", 1)[1].split()[0]
        results.append(run_setup(f"b: {args.servers} llama_cpp.server", args, questions, tmp,
                                 {"PAPERQA_LOCAL_LLM_BASE_URL": urls}))
    finally:
        stop(servers)
    record = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "date": datetime.date.today().isoformat(),
              "machine": machine(), "clients": args.clients, "model": args.model, "results": results}
    Path(args.out).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

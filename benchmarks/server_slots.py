"""The model's own throughput under concurrent requests: in-process llama.cpp (one model, one request at a time,
as the app's lock hands it on) against one llama-server with P parallel slots (continuous batching), the same
requests in the same run. For a GPU, where answering is nearly all decode and batching has room to pay.

    python benchmarks/server_slots.py --model GGUF --llama-server BIN [--parallel 1,4,8] [--clients 8] [--rounds 4]
                                      [--prompt-chars 12000] [--gen-tokens 150] [--n-gpu-layers -1] [--standin]
                                      [--in-process] [--out FILE]

Each client sends `--rounds` requests one after another (the next when its reply is back), all clients starting
at once. A request is what one answer costs the model: a prompt of distinct seed abstracts (about a GPU answer's
evidence, `--prompt-chars`) and `--gen-tokens` written, greedy, end of text forbidden so every request writes as
many (a stand-in GGUF never stops early anyway). Prints requests/s and p50/p95 latency per setup; the JSON names
the command, date and machine. `--standin`: the GGUF is `benchmarks/speed.py`'s stand-in (real header and shapes,
random weights: identical work per token, gibberish text), recorded so. Flash attention is off in both (the
in-process model's default).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
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

from load import free_port, stop  # noqa: E402 - this folder is on the path when run as a script


def prompts(count: int, chars: int) -> list[str]:
    text = " ".join(p.read_text(errors="replace") for p in sorted((ROOT / "seeds").glob("*.txt")))
    step = max(1, (len(text) - chars) // max(1, count))
    return [f"Sources:\n{text[i * step:i * step + chars]}\n\nQuestion {i}: what do these papers report?\nAnswer:"
            for i in range(count)]


def summary(name: str, latencies: list[float], wall: float, written: list[int], prompt_tokens: list[int]) -> dict:
    ordered = sorted(latencies)
    row = {"setup": name, "requests": len(ordered), "wall_s": round(wall, 2),
           "requests_per_s": round(len(ordered) / wall, 3), "p50_s": round(statistics.median(ordered), 3),
           "p95_s": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 3),
           "tokens_written_per_s": round(sum(written) / wall, 1),
           "mean_prompt_tokens": round(statistics.mean(prompt_tokens)), "mean_tokens_written": round(statistics.mean(written))}
    print(f"{name}: {row['requests']} requests, {row['requests_per_s']}/s, p50 {row['p50_s']} s, p95 {row['p95_s']} s, "
          f"{row['tokens_written_per_s']} tokens written/s", flush=True)
    return row


def drive(name: str, one, args, texts: list[str]) -> dict:
    """`one(prompt) -> (tokens written, prompt tokens)` from `--clients` threads, `--rounds` each."""
    latencies, written, prompt_tokens = [], [], []
    lock = threading.Lock()

    def client(c: int) -> None:
        for r in range(args.rounds):
            t = time.perf_counter()
            out, seen = one(texts[c * args.rounds + r])
            with lock:
                latencies.append(time.perf_counter() - t)
                written.append(out)
                prompt_tokens.append(seen)

    one(texts[-1])  # warm: the first request pays for loading kernels
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(client, range(args.clients)))
    return summary(name, latencies, time.perf_counter() - started, written, prompt_tokens)


def in_process(args, texts: list[str]) -> dict:
    import llama_cpp

    model = llama_cpp.Llama(model_path=args.model, n_ctx=4096, n_gpu_layers=args.n_gpu_layers, n_threads=os.cpu_count(),
                            verbose=False, flash_attn=False)
    from paperqa_local.llm_base import QueueLock

    eos = model.token_eos()
    lock = QueueLock()  # the app's model lock: one request at a time, in the order asked

    def one(prompt: str) -> tuple[int, int]:
        with lock:
            got = model.create_completion(prompt, max_tokens=args.gen_tokens, temperature=0.0,
                                          logit_bias={eos: -1e9})
        return got["usage"]["completion_tokens"], got["usage"]["prompt_tokens"]

    try:
        return drive("in-process (one request at a time)", one, args, texts)
    finally:
        model.close()


def server(args, parallel: int, texts: list[str]) -> dict:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
    process = subprocess.Popen(
        [args.llama_server, "-m", args.model, "--host", "127.0.0.1", "--port", str(port), "--parallel", str(parallel),
         "-c", str(4096 * parallel), "-ngl", str(999 if args.n_gpu_layers < 0 else args.n_gpu_layers), "-fa", "off",
         "-t", str(os.cpu_count())],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"llama-server did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)

        def one(prompt: str) -> tuple[int, int]:
            body = {"prompt": prompt, "max_tokens": args.gen_tokens, "temperature": 0.0, "ignore_eos": True,
                    "cache_prompt": True}
            request = urllib.request.Request(f"{url}/v1/completions", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=600) as reply:
                usage = json.loads(reply.read())["usage"]
            return usage["completion_tokens"], usage["prompt_tokens"]

        return drive(f"1 llama-server, {parallel} slots", one, args, texts)
    finally:
        stop(process)


def gpu_name() -> str | None:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=30).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--llama-server", required=True)
    parser.add_argument("--parallel", default="1,4,8", help="slots of each llama-server setup, comma-separated")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--prompt-chars", type=int, default=12_000)
    parser.add_argument("--gen-tokens", type=int, default=150)
    parser.add_argument("--n-gpu-layers", type=int, default=-1)
    parser.add_argument("--in-process", action="store_true", help="also the in-process baseline (llama-cpp-python)")
    parser.add_argument("--standin", action="store_true", help="the GGUF is a stand-in (recorded in the JSON)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "server-slots.json"))
    args = parser.parse_args()
    texts = prompts(args.clients * args.rounds + 1, args.prompt_chars)
    rows = [in_process(args, texts)] if args.in_process else []
    rows += [server(args, int(p), texts) for p in args.parallel.split(",")]
    result = {"command": " ".join(["python", *sys.argv]), "date": datetime.date.today().isoformat(),
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "gpu": gpu_name()},
              "model": Path(args.model).name, "standin": args.standin, "clients": args.clients, "rounds": args.rounds,
              "gen_tokens": args.gen_tokens, "n_gpu_layers": args.n_gpu_layers, "results": rows}
    if rows and rows[0]["setup"].startswith("in-process"):
        for row in rows[1:]:
            row["throughput_vs_in_process"] = round(row["requests_per_s"] / rows[0]["requests_per_s"], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

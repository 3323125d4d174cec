"""Hybrid search latency, memory, disk and write costs of one store grown to 10k, 100k and 1M chunks (issue #13).

    flock /tmp/paperqa-heavy.lock .venv/bin/python benchmarks/scale.py [--sizes 10000,100000,1000000] [--queries 100]
                                                                       [--chroma-server]

Corpus: SciFact abstracts (../shared/eval/scifact/corpus.jsonl) repeated with perturbation: copy r of abstract a
drops a tenth of its words at random and gains two made-up words of its own, under its own id, title suffix and
year; each is cut to one chunk (900 characters), so papers = chunks. Vectors: seeded random unit vectors (384
dims), not MiniLM's — embedding is not what is measured (ingest-speed-cpu.json has it: 1M MiniLM embeddings would
take ~15 h on 2 cores); the query vector is one fixed random unit vector (the embedder's `embed_query`), so dense search is HNSW over random
vectors (its hardest case). The queries' text (for BM25) is SciFact dev claims.

The store is built once, growing, through PaperQA.ingest_papers (the real write path: lookups by id and keys,
Chroma upserts, the keyword delta and its merges), and measured at each size on the way: hybrid search p50/p95
through PaperQA.search, loading the saved keyword index, `stats` of a new PaperQA, RSS, disk, ingest throughput,
and adding one new paper (warm process, median and worst of 5). Results are written after each size, so a run
cut short keeps what it measured. Writes benchmarks/results/scale-cpu.json and scale-cpu.png (latency vs size;
`--plot` redraws it from the JSON). --chroma-server: the same with the store in a `chroma run` server that this
starts on 127.0.0.1 (the client's and the server's RSS; scale-cpu-server.json and .png).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
DIMS = 384


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def du_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def made_up(n: int) -> str:
    letters = ""
    while True:
        n, digit = divmod(n, 16)
        letters += "bcdf"[digit // 4] + "aiou"[digit % 4]
        if not n:
            return "z" + letters


def papers(start: int, stop: int, abstracts: list[dict]):
    from paperqa_local.types import Paper

    for n in range(start, stop):
        base = abstracts[n % len(abstracts)]
        rng = random.Random(n)
        words = [w for w in base["text"].split() if rng.random() > 0.1] + [made_up(n), made_up(n + 7_000_000)]
        yield Paper(paper_id=f"s{n}", title=f"{base['title']} ({n // len(abstracts)})", abstract=" ".join(words)[-900:],
                    year=1990 + n % 35)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--batch", type=int, default=10_000, help="papers per ingest call while growing")
    parser.add_argument("--out", default=None, help="default: benchmarks/results/scale-cpu.json")
    parser.add_argument("--keep", help="build the store here and keep it (default: a temporary folder, removed)")
    parser.add_argument("--keyword-only", type=int, metavar="N",
                        help="measure the keyword index alone at N chunks (no Chroma, no dense search) and exit")
    parser.add_argument("--chroma-server", action="store_true",
                        help="the store in a `chroma run` server started here (127.0.0.1), not embedded; default --out "
                             "benchmarks/results/scale-cpu-server.json")
    parser.add_argument("--plot", action="store_true", help="only draw the PNG from the JSON at --out")
    args = parser.parse_args()
    args.out = args.out or str(ROOT / "benchmarks" / "results" / f"scale-cpu{'-server' if args.chroma_server else ''}.json")
    if args.plot:
        return plot(json.loads(Path(args.out).read_text()), Path(args.out).with_suffix(".png"))
    if args.keyword_only:
        return keyword_only(args)

    from paperqa_local import PaperQA
    from paperqa_local.embed import Embedder
    from paperqa_local.hardware import machine
    from paperqa_local.keyword import KeywordIndex
    from paperqa_local.keyword_sync import keyword_dir, wait_for_merges

    class RandomVectors(Embedder):
        """Seeded random unit vectors: the write and search paths are measured, not the embedding model."""

        name = "random-unit-384"

        def __init__(self):
            self.rng = np.random.default_rng(0)

        def embed_batch(self, texts):
            vectors = self.rng.standard_normal((len(texts), DIMS)).astype(np.float32)
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

        def embed(self, texts, progress=None):
            return self.embed_batch(texts)

        def embed_query(self, text):
            return QUERY_VECTOR

    QUERY_VECTOR = RandomVectors().embed_batch(["query"])[0]
    abstracts = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").read_text().splitlines()]
    claims = [json.loads(line)["claim"] for line in (SCIFACT / "claims_dev.jsonl").read_text().splitlines()][: args.queries]
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="scale-bench-"))
    server, where = None, {}
    if args.chroma_server:
        server, where = chroma_run(work / "server")
    qa = PaperQA(data_dir=work, embedder=RandomVectors(), embedding_model=RandomVectors.name, **where)
    result = {"store": "chroma server (chroma run, 127.0.0.1)" if server else "embedded (local Chroma)", "corpus": "SciFact abstracts repeated with perturbation (one chunk per paper)",
              "vectors": "seeded random unit vectors, 384 dims; fixed random query vector",
              "queries": f"{len(claims)} SciFact dev claims, hybrid mode, k=10", "sizes": [],
              "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": machine()}
    out = Path(args.out)
    if out.exists() and "keyword_only" in json.loads(out.read_text()):
        result["keyword_only"] = json.loads(out.read_text())["keyword_only"]
    built, extra = 0, 10_000_000  # ids of the single papers added after each size
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            started = time.perf_counter()
            grown = size - built
            for start in range(built, size, args.batch):
                qa.ingest_papers(list(papers(start, min(size, start + args.batch), abstracts)))
                print(f"  {min(size, start + args.batch):>9,} chunks  {time.perf_counter() - started:7.1f} s", flush=True)
            wait_for_merges()  # a background merge would share the cores with the timings below
            ingest_s = time.perf_counter() - started
            built = size
            row = {"chunks": qa.store.count(), "grown_by": grown, "ingest_s": round(ingest_s, 1),
                   "ingest_chunks_per_s": round(grown / ingest_s, 1)}
            qa.search(claims[0], k=10)  # brings this process's index in step
            latencies = []
            for claim in claims:
                t = time.perf_counter()
                qa.search(claim, k=10)
                latencies.append(1000 * (time.perf_counter() - t))
            row["search_p50_ms"] = round(statistics.median(latencies), 1)
            row["search_p95_ms"] = round(float(np.percentile(latencies, 95)), 1)
            t = time.perf_counter()
            KeywordIndex.load(keyword_dir(qa.store))
            row["keyword_index_load_s"] = round(time.perf_counter() - t, 2)
            t = time.perf_counter()
            stats = PaperQA(data_dir=work, embedder=RandomVectors(), embedding_model=RandomVectors.name, **where).stats()
            row["stats_s"] = round(time.perf_counter() - t, 3)
            assert stats["chunks"] == row["chunks"], stats
            t = time.perf_counter()
            listed = PaperQA(data_dir=work, embedder=RandomVectors(), embedding_model=RandomVectors.name, **where).papers()
            row["papers_listing_s"] = round(time.perf_counter() - t, 2)  # the library table, read once, then cached
            assert len(listed) == stats["papers"]
            adds = []
            for _ in range(5):
                extra += 1
                t = time.perf_counter()
                report = qa.ingest_papers(list(papers(extra, extra + 1, abstracts)))
                adds.append(time.perf_counter() - t)
                assert report.new_papers == 1
            row["add_one_paper_median_s"] = round(statistics.median(adds), 3)
            row["add_one_paper_max_s"] = round(max(adds), 3)
            row["rss_mb"] = rss_mb()
            if server is not None:
                row["server_rss_mb"] = rss_mb(server.pid)
            row["disk_mb"] = du_mb(work / ("server" if server else "store"))
            row["keyword_index_mb"] = du_mb(keyword_dir(qa.store))
            result["sizes"].append(row)
            print(json.dumps(row), flush=True)
            out.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    plot(result, out.with_suffix(".png"))
    print(f"wrote {out}")


def chroma_run(path: Path):
    """A `chroma run` server on a free port of 127.0.0.1 keeping its data in `path`; the process and the settings."""
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).with_name("chroma")), "run", "--path", str(path), "--host",
                               "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            return server, {"chroma_host": "127.0.0.1", "chroma_port": port}
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("chroma run did not start")
            time.sleep(0.3)


def keyword_only(args) -> None:
    """The keyword index at N chunks without the store: build, BM25 search p50/p95, adding one paper (update and
    save of the delta), loading, a merge, RSS. Written to the result file's `keyword_only` entry, by size."""
    from paperqa_local.hardware import machine
    from paperqa_local.ingest import text_hash
    from paperqa_local.keyword import KeywordIndex

    abstracts = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").read_text().splitlines()]
    claims = [json.loads(line)["claim"] for line in (SCIFACT / "claims_dev.jsonl").read_text().splitlines()][: args.queries]

    def rows(start: int, stop: int):
        found = [(f"{p.paper_id}#0", f"{p.title}. {p.abstract}", p) for p in papers(start, stop, abstracts)]
        return [(cid, text, {"paper_id": p.paper_id, "year": p.year, "position": 0, "text_hash": text_hash(text)})
                for cid, text, p in found]

    n = args.keyword_only
    built = rows(0, n)
    started = time.perf_counter()
    index = KeywordIndex.build([r[0] for r in built], [r[1] for r in built], [r[2] for r in built])
    row = {"chunks": n, "build_s": round(time.perf_counter() - started, 1)}
    del built
    folder = Path(tempfile.mkdtemp(prefix="scale-keyword-")) / "bm25"
    try:
        t = time.perf_counter()
        index.save(folder)
        row["save_s"] = round(time.perf_counter() - t, 1)
        latencies = []
        for claim in claims:
            t = time.perf_counter()
            index.search(claim, 100)
            latencies.append(1000 * (time.perf_counter() - t))
        row["bm25_p50_ms"] = round(statistics.median(latencies), 1)
        row["bm25_p95_ms"] = round(float(np.percentile(latencies, 95)), 1)
        adds = []
        for extra in range(10_000_000, 10_000_005):
            t = time.perf_counter()
            index = index.update(rows(extra, extra + 1), [])
            index.save(folder)
            adds.append(time.perf_counter() - t)
        row["add_one_paper_median_s"] = round(statistics.median(adds), 3)
        row["add_one_paper_max_s"] = round(max(adds), 3)
        t = time.perf_counter()
        KeywordIndex.load(folder)
        row["load_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        due = index.update(rows(20_000_000, 20_000_000 + 10_001), [])  # past the delta limit: a merge is due
        row["add_10k_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        due.merged()  # what the background merge computes (keyword_sync.merge_in_background); no write waits for it
        row["merge_10k_s"] = round(time.perf_counter() - t, 1)
        row["rss_mb"] = rss_mb()
        row["disk_mb"] = du_mb(folder)
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    print(json.dumps(row), flush=True)
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    result.setdefault("keyword_only", {})[str(n)] = {**row, "command": " ".join([Path(sys.executable).name, *sys.argv]),
                                                      "date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": machine()}
    out.write_text(json.dumps(result, indent=2) + "\n")


def plot(result: dict, path: Path) -> None:
    """Hybrid search p50 and p95 against store size (log scale) and the 100 ms target, drawn with Pillow (which the
    app's Gradio already brings; no plotting library is installed for one figure)."""
    from PIL import Image, ImageDraw, ImageFont

    rows = [row for row in result["sizes"] if row.get("search_p95_ms") is not None]
    if not rows:
        return
    width, height, left, right, top, bottom = 760, 480, 80, 30, 50, 70
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font, small = ImageFont.load_default(size=16), ImageFont.load_default(size=13)
    lo, hi = 3.7, 6.3  # log10 of the chunk counts shown
    top_ms = max(120.0, 1.15 * max(row["search_p95_ms"] for row in rows))

    def x(chunks: float) -> float:
        return left + (np.log10(chunks) - lo) / (hi - lo) * (width - left - right)

    def y(ms: float) -> float:
        return height - bottom - ms / top_ms * (height - top - bottom)

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for chunks, label in ((1e4, "10k"), (1e5, "100k"), (1e6, "1M")):
        draw.line([x(chunks), height - bottom, x(chunks), height - bottom + 5], fill="black")
        draw.text((x(chunks), height - bottom + 8), label, fill="black", font=small, anchor="mt")
    step = 20 if top_ms <= 200 else 50
    for ms in range(0, int(top_ms) + 1, step):
        draw.line([left - 5, y(ms), left, y(ms)], fill="black")
        draw.text((left - 8, y(ms)), str(ms), fill="black", font=small, anchor="rm")
    for start in range(left, width - right, 12):  # the target, dashed
        draw.line([start, y(100), min(start + 6, width - right), y(100)], fill="grey", width=2)
    draw.text((width - right - 6, y(100) - 4), "target p95 100 ms", fill="grey", font=small, anchor="rb")
    for key, colour in (("search_p50_ms", "#1f77b4"), ("search_p95_ms", "#ff7f0e")):
        points = [(x(row["chunks"]), y(row[key])) for row in rows]
        if len(points) > 1:
            draw.line(points, fill=colour, width=3)
        for px, py in points:
            draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)
    for n, (label, colour) in enumerate((("p50", "#1f77b4"), ("p95", "#ff7f0e"))):
        draw.line([left + 15, top + 18 + 20 * n, left + 40, top + 18 + 20 * n], fill=colour, width=3)
        draw.text((left + 48, top + 18 + 20 * n), label, fill="black", font=small, anchor="lm")
    draw.text((width / 2, 22), "paperqa-local: hybrid search latency vs store size (2-core CPU)", fill="black", font=font, anchor="mm")
    draw.text(((left + width - right) / 2, height - 22), "chunks in the store (log scale)", fill="black", font=small, anchor="mm")
    draw.text((18, (top + height - bottom) / 2), "ms", fill="black", font=small, anchor="mm")
    image.save(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

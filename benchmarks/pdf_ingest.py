"""PDF ingest throughput (pages/s): full-text PDFs read page by page, split, embedded and stored.

    .venv/bin/python benchmarks/pdf_ingest.py [--papers 6] [--pages 10] [--repeats 2]

The PDFs are made here, printed by headless chromium (/usr/bin/chromium, through Playwright) from HTML: each is a
paper-like A4 document — a title, authors, then `--pages` pages of about 3,000 characters of prose in 11pt type
(the seeds' abstracts, in order, as stand-in body text: real scientific sentences, figures included).
Timed, best of `--repeats`, each into a fresh data directory with the bundled MiniLM on the CPU:
  read   = parsing alone: pypdf text extraction through the llama-index reader + page-aware SentenceSplitter
  ingest = `PaperQA.ingest` on the folder: read, dedupe, chunk, embed, Chroma upsert, BM25 build
Prints a table and writes benchmarks/results/pdf-ingest-cpu.json. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PAGE_CHARS = 3000  # a dense A4 page of a two-column paper holds 4,000-6,000; a one-column one about 3,000


def make_pdfs(folder: Path, papers: int, pages: int) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from paperqa_local.sources import parse_paths

    seeds = parse_paths([ROOT / "seeds"]).papers
    body = iter(paper.abstract for paper in seeds * 4)
    paths = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()
        for n in range(papers):
            title = seeds[n].title
            sections = []
            for number in range(1, pages + 1):
                text = ""
                while len(text) < PAGE_CHARS:
                    text += " " + next(body)
                head = f"<h1>{html.escape(title)}</h1><p>A. Author, B. Author</p>" if number == 1 else f"<h2>{number}. Section</h2>"
                sections.append(f'<section style="page-break-after: always">{head}<p>{html.escape(text)}</p></section>')
            page.set_content(f"<html><head><title>{html.escape(title)}</title><style>body{{font:11pt serif}}</style>"
                             f"</head><body>{''.join(sections)}</body></html>")
            paths.append(folder / f"paper{n + 1}.pdf")
            page.pdf(path=str(paths[-1]), format="A4")
        browser.close()
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=6)
    parser.add_argument("--pages", type=int, default=10, help="body pages per paper")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from paperqa_local import PaperQA
    from paperqa_local.embed import get_embedder
    from paperqa_local.hardware import machine
    from paperqa_local.ingest import chunk_paper
    from paperqa_local.sources import parse_paths

    work = Path(tempfile.mkdtemp(prefix="pdf-bench-"))
    folder = work / "pdfs"
    folder.mkdir()
    started = time.perf_counter()
    paths = make_pdfs(folder, args.papers, args.pages)
    print(f"made {len(paths)} PDFs in {time.perf_counter() - started:.1f} s")
    embedder = get_embedder("all-MiniLM-L6-v2", "cpu", 64)
    embedder.embed(["warm up the model and its kernels"] * 8)
    parse_paths([paths[0]])  # imports llama-index and pypdf once, outside the timings

    read_runs, ingest_runs = [], []
    for repeat in range(args.repeats):
        started = time.perf_counter()
        parsed = parse_paths([folder])
        chunks = [chunk for paper in parsed.papers for chunk in chunk_paper(paper, 1200)]
        read_runs.append(time.perf_counter() - started)
        qa = PaperQA(data_dir=work / f"data{repeat}", embedder=embedder)
        started = time.perf_counter()
        report = qa.ingest([folder])
        ingest_runs.append(time.perf_counter() - started)
    pages = sum(max(page for page, _ in paper.pages) for paper in parsed.papers)
    read_s, ingest_s = min(read_runs), min(ingest_runs)
    again = qa.ingest([folder])
    result = {
        "pdfs": len(paths), "pages": pages, "chunks": len(chunks), "problems": [str(p) for p in report.problems],
        "what": f"{args.papers} chromium-printed A4 PDFs of {args.pages} pages (~{PAGE_CHARS} characters each, "
                "seeds abstracts as body text; title and authors atop page 1)",
        "read_runs_s": [round(t, 2) for t in read_runs], "ingest_runs_s": [round(t, 2) for t in ingest_runs],
        "read_s": round(read_s, 2), "read_pages_per_s": round(pages / read_s, 1),
        "ingest_s": round(ingest_s, 2), "ingest_pages_per_s": round(pages / ingest_s, 1),
        "reingest_s": round(again.seconds, 2), "reingest_embedded": again.chunks_embedded,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": machine(),
    }
    print(f"{'':44}{'seconds':>10}{'pages/s':>10}")
    print(f"{'read (pypdf via llama-index reader + split)':44}{read_s:>10.2f}{pages / read_s:>10.1f}")
    print(f"{'paperqa-local ingest (read, embed, store)':44}{ingest_s:>10.2f}{pages / ingest_s:>10.1f}")
    print(f"{len(paths)} PDFs, {pages} pages, {len(chunks)} chunks; re-ingest {again.seconds:.2f} s, "
          f"{again.chunks_embedded} chunks embedded")
    out = ROOT / "benchmarks" / "results" / "pdf-ingest-cpu.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

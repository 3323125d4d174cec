"""The commands over the stored papers: `ingest`, `stats`, `reindex`, `search`, `papers list` and `papers remove`."""

from __future__ import annotations

import argparse
import sys

from .cli_shared import open_qa, print_json, print_result
from .errors import PaperQAError


def _progress_bar(total_hint: str):
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=total_hint, unit="chunk", file=sys.stderr, dynamic_ncols=True)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def cmd_ingest(args: argparse.Namespace) -> int:
    qa = open_qa(args)
    report = qa.ingest(args.paths, progress=None if args.json else _progress_bar("embedding"))
    if args.json:
        print_json(report.to_dict())
    else:
        print(
            f"{report.parsed} records in {len(report.files)} files ({report.duplicates} duplicates): "
            f"{report.new_papers} new, {report.updated_papers} updated, {report.unchanged_papers} unchanged papers; "
            f"{report.chunks_embedded} chunks embedded in {report.seconds:.1f} s"
        )
        for problem in report.problems:
            print(f"note: {problem}", file=sys.stderr)
    if not report.parsed and report.problems:  # an empty file, a folder with nothing readable: say so, and fail
        print("error: nothing to add — every file given was empty or unreadable (see the notes above)", file=sys.stderr)
        return 1
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .store import Store

    qa = open_qa(args)
    qa.store = qa.retriever.store = Store(qa.settings, create=False)
    stats = qa.stats()
    print_result(stats, args.json)
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from .store import Store

    qa = open_qa(args)
    qa.store = qa.retriever.store = Store(qa.settings, create=False)
    print_result(qa.reindex(), args.json)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    qa = open_qa(args)
    hits = qa.search(args.query, k=args.k, year_from=args.year_from, year_to=args.year_to, mode=args.mode)
    if args.json:
        print_json([hit.to_dict() for hit in hits])
    else:
        for rank, hit in enumerate(hits, 1):
            print(f"{rank}. [{hit.score:.3f}] {hit.title}" + (f" ({hit.year})" if hit.year else "") + f"  <{hit.paper_id}>")
    return 0


def cmd_papers(args: argparse.Namespace) -> int:
    from .store import Store

    qa = open_qa(args)
    qa.store = Store(qa.settings, create=False)  # an empty data directory is "no index", not a new empty one
    if args.papers_command == "list":
        records = qa.papers()
        if args.json:
            print_json(records)
            return 0
        width = max((len(record["paper_id"]) for record in records), default=0)
        for record in records:
            who = (record["byline"] or "–")[:24]
            print(f"{record['paper_id']:<{width}}  {record['year'] or '    '}  {who:<24}  {record['title']}")
        print(f"{len(records)} paper{'s' * (len(records) != 1)} in library {qa.settings.collection}")
        return 0
    if not args.ids and not args.files:
        raise PaperQAError("give the ids of the papers to remove (see `paperqa-local papers list`), or --file F")
    report = qa.remove_files(args.files) if args.files else qa.remove(args.ids)
    if args.files and args.ids:  # both: one report of the two removals
        by_id = qa.remove(args.ids)
        report.removed += by_id.removed
        report.unknown, report.chunks = by_id.unknown, report.chunks + by_id.chunks
    if args.json:
        print_json(report.to_dict())
    elif report.removed:
        print(f"removed {len(report.removed)} paper{'s' * (len(report.removed) != 1)} ({report.chunks} chunks): "
              + ", ".join(report.removed))
    for problem in report.problems:
        print(f"note: {problem}", file=sys.stderr)
    if report.not_stored:
        titles = "; ".join(repr(title[:60]) for title in report.not_stored[:5]) + (" …" if len(report.not_stored) > 5 else "")
        print(f"note: {len(report.not_stored)} paper(s) of {', '.join(args.files)} are not in the index: {titles}",
              file=sys.stderr)
    if report.unknown:
        print(f"error: no paper with id {', '.join(map(repr, report.unknown))} in the index — "
              "`paperqa-local papers list` shows the ids", file=sys.stderr)
        return 1
    if not report.removed:
        print("error: nothing removed — none of the file's papers is in the index", file=sys.stderr)
        return 1
    return 0

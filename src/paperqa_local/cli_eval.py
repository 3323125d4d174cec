"""`paperqa-local eval`: the retrieval and answer-quality benchmarks."""

from __future__ import annotations

import argparse
from pathlib import Path

from .cli_shared import print_result
from .errors import PaperQAError


def cmd_eval(args: argparse.Namespace) -> int:
    if args.eval_command == "retrieval":
        from .eval.retrieval import run_retrieval_eval
        from .qa import PaperQA

        from .config import default_home

        data_dir = args.data_dir or str(default_home() / "eval")
        qa = PaperQA(data_dir=data_dir, collection=f"beir-{Path(args.beir).resolve().name}")
        result = run_retrieval_eval(qa, Path(args.beir), args.split, args.mode, args.limit)
    elif args.dataset == "seeds" or args.questions:
        from .eval.seeds import run_seeds_eval

        result = run_seeds_eval(args)
    elif args.dataset is None:
        raise PaperQAError("eval qa needs --dataset seeds|scifact|pubmedqa, or --questions FILE")
    else:
        from .eval.qa import run_qa_eval

        result = run_qa_eval(args)
    print_result(result, args.json)
    return 0

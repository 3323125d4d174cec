"""What the commands share: the facade opened with the command line's settings, and JSON output."""

from __future__ import annotations

import argparse
import json
from typing import Any


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = ("model", "k", "n_gpu_layers", "embed_device", "retrieval_mode", "collection")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def open_qa(args: argparse.Namespace, **extra: Any):
    from .qa import PaperQA

    return PaperQA(data_dir=args.data_dir, **settings_overrides(args), **extra)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_result(result: dict[str, Any], as_json: bool) -> None:
    """A command's result: JSON, or one "key: value" line per field."""
    if as_json:
        print_json(result)
    else:
        for key, value in result.items():
            print(f"{key}: {value}")

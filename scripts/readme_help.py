"""Regenerate the CLI help block of README.md from the parser (a test fails when it is stale).

    .venv/bin/python scripts/readme_help.py          # rewrite README.md
    .venv/bin/python scripts/readme_help.py --check  # exit 1 if README.md is stale
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
BEGIN, END = "<!-- [[[cli-help -->", "<!-- ]]] -->"


def help_text() -> str:
    os.environ["COLUMNS"] = "100"
    from paperqa_local.cli import build_parser

    parser = build_parser()
    parts = [parser.format_help()]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        parts.append(sub.format_help())
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        for action in nested:
            parts += [p.format_help() for p in action.choices.values()]
    return "\n".join(parts).strip()


def render(readme: str) -> str:
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n```text\n{help_text()}\n```\n{END}{tail}"


def main() -> int:
    path = ROOT / "README.md"
    current = path.read_text()
    fresh = render(current)
    if "--check" in sys.argv:
        if fresh != current:
            print("README.md's CLI help is stale: run .venv/bin/python scripts/readme_help.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())

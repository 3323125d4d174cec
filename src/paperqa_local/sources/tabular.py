"""Tabular sources: JSON Lines and JSON (`jsonl.py`), CSV (`csvfile.py`), their records (`records.py`).

This module keeps the names that callers import from it.
"""

from .csvfile import parse_csv
from .jsonl import parse_jsonl
from .records import record_to_paper

__all__ = ["parse_csv", "parse_jsonl", "record_to_paper"]

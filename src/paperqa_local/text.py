"""Sentence splitting for chunking and for picking evidence sentences."""

from __future__ import annotations

import re

# A sentence ends at . ! or ? followed by space and a capital, digit or bracket; common abbreviations do not end one.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'])")
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "vs.", "Fig.", "Eq.", "approx.", "cf.", "Dr.", "No.")


def split_sentences(text: str) -> list[str]:
    parts = [part.strip() for part in _BOUNDARY.split(" ".join(text.split())) if part.strip()]
    sentences: list[str] = []
    for part in parts:
        if sentences and sentences[-1].endswith(_ABBREVIATIONS):
            sentences[-1] += " " + part
        else:
            sentences.append(part)
    return sentences


def pack(sentences: list[str], max_chars: int) -> list[str]:
    """Consecutive sentences joined into pieces of at most `max_chars` (a longer sentence stands alone)."""
    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        if current and len(current) + 1 + len(sentence) > max_chars:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces

"""Sentence splitting for chunking and for picking evidence sentences."""

from __future__ import annotations

import re

# A sentence ends at . ! or ? followed by space and a capital, digit or bracket; common abbreviations do not end one.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'])")
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "vs.", "Fig.", "Eq.", "approx.", "cf.", "Dr.", "No.")


def split_sentences(text: str) -> list[str]:
    parts = [part.strip() for part in _BOUNDARY.split(" ".join(text.split())) if part.strip()]
    groups: list[list[str]] = []  # parts of one sentence, joined once: += on a string is quadratic in the worst case
    for part in parts:
        if groups and groups[-1][-1].endswith(_ABBREVIATIONS):
            groups[-1].append(part)
        else:
            groups.append([part])
    return [" ".join(group) for group in groups]


def hard_split(sentence: str, max_chars: int) -> list[str]:
    """A sentence longer than `max_chars` (a text without sentence ends, say) in pieces of at most `max_chars`,
    cut at the last space that fits, or mid-word where a piece has none."""
    max_chars = max(max_chars, 1)
    pieces: list[str] = []
    start = 0
    while len(sentence) - start > max_chars:
        cut = sentence.rfind(" ", start + 1, start + max_chars + 1)
        if cut == -1:
            cut = start + max_chars
        pieces.append(sentence[start:cut].strip())
        start = cut
        while start < len(sentence) and sentence[start] == " ":
            start += 1
    pieces.append(sentence[start:].strip())
    return [piece for piece in pieces if piece]


def pack(sentences: list[str], max_chars: int) -> list[str]:
    """Consecutive sentences joined into pieces of at most `max_chars`; a longer sentence is cut (`hard_split`)."""
    pieces: list[str] = []
    current = ""
    for long_sentence in sentences:
        for sentence in hard_split(long_sentence, max_chars) if len(long_sentence) > max_chars else [long_sentence]:
            if current and len(current) + 1 + len(sentence) > max_chars:
                pieces.append(current)
                current = sentence
            else:
                current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces

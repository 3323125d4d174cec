"""A source file as numbered lines of text, whatever its bytes: every parser reads through here.

A line that is not UTF-8 (or holds NUL bytes, i.e. binary data) does not cost the rest of the file: it is
decoded with U+FFFD in place of the bad bytes, so that the structure around it stays intact, and listed in
`bad`; the parser then drops the record it belongs to and reports that line.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..types import Problem

NOT_UTF8 = "not UTF-8 text; save the file as UTF-8"
BINARY = "binary data (NUL bytes), not text"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Unreadable(Exception):
    """The file as a whole cannot be read; the message says why and what to do."""


@dataclass
class Lines:
    path: Path
    lines: list[str]  # line N is lines[N - 1], without its line ending
    bad: dict[int, str] = field(default_factory=dict)  # line number -> NOT_UTF8 or BINARY

    def numbered(self) -> Iterator[tuple[int, str]]:
        """(number, text) of each line that holds more than white space."""
        for number, line in enumerate(self.lines, 1):
            if line.strip():
                yield number, line

    def problem(self, number: int, reason: str) -> Problem:
        return Problem(str(self.path), f"line {number}", reason)

    def first_bad(self, first: int, last: int) -> Problem | None:
        """The problem of the first bad line among lines first..last (a record that spans them), if any."""
        for number in range(first, last + 1):
            if number in self.bad:
                return self.problem(number, self.bad[number])
        return None


def _utf16(data: bytes) -> bool:
    """UTF-16 text: its byte-order mark, and the NUL half of every character of ASCII that the formats' own
    punctuation is written in (FF FE alone could be the first bad line of a UTF-8 file)."""
    return data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and data.count(b"\x00") * 4 >= len(data)


def read_lines(path: Path) -> Lines:
    """The file's lines; raises Unreadable for a file that cannot be opened, is empty or is UTF-16 gone wrong."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Unreadable(f"cannot read it: {exc.strerror or exc}; check that it is a file you may read (ls -l)") from None
    if _utf16(data):  # Windows "Unicode" text
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeError:
            raise Unreadable("not valid UTF-16 text despite its byte-order mark; save it as UTF-8") from None
    data = data.removeprefix(codecs.BOM_UTF8)  # as Excel writes CSV
    if not data or data.isspace():
        raise Unreadable("empty file: it holds no records")
    # Lines break at \n, \r and \r\n only (as bytes.splitlines does): str.splitlines would also break inside a
    # JSON string at U+2028 or a form feed, tearing a good record in two.
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError:
        whole = None
    if whole is not None and "\x00" not in whole:  # the common case, decoded at once
        if "\r" not in whole:
            return Lines(path, whole.removesuffix("\n").split("\n"))
        return Lines(path, _LINE_BREAK.split(whole.removesuffix("\n").removesuffix("\r")))
    text = Lines(path, [])
    for number, raw in enumerate(data.splitlines(), 1):
        if b"\x00" in raw:
            text.bad[number] = BINARY
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = raw.decode("utf-8", errors="replace")
            text.bad.setdefault(number, NOT_UTF8)
        text.lines.append(line)
    return text


def whole_file_verdict(problems: list[Problem], text: Lines, papers_found: int) -> list[Problem]:
    """When nothing could be read and some lines are not UTF-8 text, the file as a whole is in another encoding
    (or binary): one problem says so, where a report per line would bury the fix under consequences of it."""
    if papers_found or not text.bad:
        return problems
    binary = [number for number, why in text.bad.items() if why == BINARY]
    if binary:
        reason = f"binary data, not a text file (NUL bytes at line {min(binary)}, {len(text.bad)} bad lines in all)"
    else:
        others = f", {len(text.bad) - 1} more lines like it" if len(text.bad) > 1 else ""
        reason = f"not UTF-8 text (line {min(text.bad)}{others}); save the file as UTF-8"
    return [Problem(str(text.path), "file", reason)]

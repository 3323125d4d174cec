"""CSV files with a header row naming `title` and `abstract` (+ `authors`, `year`, `url`, `doi`, `id`). A row that
cannot be read is reported and costs only itself, even a stray quote that runs on over the rows after it."""

from __future__ import annotations

import csv
import io
from itertools import accumulate
from pathlib import Path

from . import ParseResult
from .reading import read_lines, whole_file_verdict
from .records import collect


def _raise_field_limit(size: int) -> None:
    """csv refuses fields over 131,072 characters, which a long abstract can pass; no field is longer than the
    file. Only ever raised (other threads may be reading), and capped where a C long ends on some platforms."""
    csv.field_size_limit(max(csv.field_size_limit(), min(size + 1, 2**31 - 1)))


def _stray_quote(lines: list[str], fields: list[str], header: list[str]) -> bool:
    """Whether a record of several lines is really a quote that was opened by mistake and swallowed the rows
    after it: its quotes do not pair up (it ran to the end of the file), it has the wrong number of fields, or
    its title holds a line break (only an abstract spans lines)."""
    title = fields[header.index("title")] if len(fields) > header.index("title") else ""
    return sum(line.count('"') for line in lines) % 2 == 1 or len(fields) != len(header) or "\n" in title


def parse_csv(path: Path) -> ParseResult:
    text = read_lines(path)
    document = "\n".join(text.lines)
    _raise_field_limit(len(document))
    starts = [0, *accumulate(len(line) + 1 for line in text.lines)]  # where each line begins in `document`
    result = ParseResult()
    feed = io.StringIO(document, newline="")
    reader, header, skipped = csv.reader(feed), None, 0  # skipped: lines before the reader's start

    def read_again_after(line: int) -> None:
        """Start a fresh reader on the line after `line`: what a stray quote swallowed is read again."""
        nonlocal reader, skipped
        feed.seek(starts[line])
        reader, skipped = csv.reader(feed), line

    while True:
        first = skipped + reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.problems.append(text.problem(first, f"unreadable CSV record: {exc}"))
            read_again_after(first)
            continue
        last = skipped + reader.line_num
        if not any(map(str.strip, fields)):
            continue
        if header is None:
            header = [name.strip().lower() for name in fields]
            if not {"title", "abstract"} <= set(header):
                result.problems.append(text.problem(first, "CSV header needs 'title' and 'abstract' columns"))
                break
            continue
        if last > first and _stray_quote(text.lines[first - 1:last], fields, header):
            result.problems.append(text.problem(first, f"a quote opened here runs on to line {last}; close it, and "
                                                       'write a quote inside a field as two ("")'))
            read_again_after(first)
        elif bad := text.first_bad(first, last):
            result.problems.append(bad)
        elif any(map(str.strip, fields[len(header):])):
            result.problems.append(text.problem(first, f"{len(fields)} fields where the header has {len(header)}; "
                                                       "quote fields that hold commas"))
        else:
            collect(result, text, first, dict(zip(header, fields)))
    result.problems = whole_file_verdict(result.problems, text, len(result.papers))
    return result

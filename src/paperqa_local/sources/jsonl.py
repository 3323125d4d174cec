"""JSON Lines and JSON files: one record per line, or one pretty-printed document. A line that is not a paper
record (bad JSON, not an object, nested without end) is reported and costs only itself."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from pathlib import Path
from typing import Callable

from . import ParseResult
from .reading import Lines, read_lines, whole_file_verdict
from .records import collect

TOO_DEEP = "nested too deeply to be a paper record (JSON arrays or objects inside each other)"
_SPACE = re.compile(r"[ \t\n\r]*")


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg}"
    if "digits" in str(exc):  # Python refuses to read integers of more than 4,300 digits
        return "invalid JSON: a number too long to read"
    return f"invalid JSON: {exc}"


def parse_jsonl(path: Path) -> ParseResult:
    """JSON Lines (one object, or one array of objects, per line), or a pretty-printed JSON document (an array
    of objects, or one object) whose first line is a lone bracket."""
    text = read_lines(path)
    first = next((line.strip() for _, line in text.numbered()), "")
    if first in ("[", "{"):
        result = _parse_document(text)
        if result.problems:  # it failed part-way: perhaps JSON Lines after a stray first line
            as_lines = _parse_lines(text)
            result = as_lines if len(as_lines.papers) > len(result.papers) else result
    else:
        result = _parse_lines(text)
    result.problems = whole_file_verdict(result.problems, text, len(result.papers))
    return result


def _parse_lines(text: Lines) -> ParseResult:
    result = ParseResult()
    for number, line in text.numbered():
        if number in text.bad:
            result.problems.append(text.problem(number, text.bad[number]))
            continue
        try:
            value = json.loads(line)
        except RecursionError:
            result.problems.append(text.problem(number, TOO_DEEP))
            continue
        except ValueError as exc:
            result.problems.append(text.problem(number, _json_error(exc)))
            continue
        if isinstance(value, list) and any(isinstance(item, dict) for item in value):
            for index, item in enumerate(value, 1):  # a whole array written on one line
                collect(result, text, number, item, f"item {index}: ")
        else:
            collect(result, text, number, value)
    return result


def _line_finder(lines: list[str]) -> Callable[[int], int]:
    """The line number of a character position in the lines joined by newlines."""
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    return lambda position: min(bisect_right(starts, position), len(lines))


def _parse_document(text: Lines) -> ParseResult:
    """The whole file as one JSON value: one object, or an array whose items are records, each located at the
    line it starts on. A syntax error stops the reading there (JSON cannot be resynchronised); records before
    it are kept."""
    result = ParseResult()
    document = "\n".join(text.lines)
    line_at = _line_finder(text.lines)

    def stop(position: int, reason: str) -> ParseResult:
        result.problems.append(text.problem(line_at(position), reason + "; the records after it were not read"))
        return result

    decoder = json.JSONDecoder()
    position = _SPACE.match(document).end()
    is_array = document.startswith("[", position)
    if is_array:
        position = _SPACE.match(document, position + 1).end()
    while position < len(document) and not (is_array and document[position] == "]"):
        try:
            value, end = decoder.raw_decode(document, position)
        except RecursionError:
            return stop(position, TOO_DEEP)
        except ValueError as exc:
            return stop(exc.pos if isinstance(exc, json.JSONDecodeError) else position, _json_error(exc))
        if bad := text.first_bad(line_at(position), line_at(end - 1)):
            result.problems.append(bad)
        else:
            collect(result, text, line_at(position), value)
        position = _SPACE.match(document, end).end()
        if not is_array:
            break
        if document.startswith(",", position):
            position = _SPACE.match(document, position + 1).end()
        elif not document.startswith("]", position):
            return stop(position, "invalid JSON: expected ',' or ']' after an array item")
    if is_array and position >= len(document):
        return stop(position, "invalid JSON: the array is not closed with ']'")
    if document[position + is_array:].strip():
        result.problems.append(text.problem(line_at(position + is_array), "invalid JSON: text after the end was not read"))
    return result

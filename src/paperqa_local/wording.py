"""How an answer reads: markers held back while streaming, papers named, third person, copied headers undone.

Small models paste abstract sentences ("We compute …"), refer to "the abstract" or "it" without naming the
paper, and copy a source's header line; these turn such text into what a colleague would write, without
changing what it claims.
"""

from __future__ import annotations

import re

from .evidence import Source
from .support import MARKER


def with_markers(sentence: str, keys: list[int]) -> str:
    """`sentence` with the markers of `keys` before its final stop."""
    markers = "".join(f"[{key}]" for key in keys)
    if not markers:
        return sentence
    return f"{sentence[:-1]} {markers}{sentence[-1]}" if sentence[-1:] in ".!?" else f"{sentence} {markers}"


class MarkerFilter:
    """Streams text with citation markers held back: a marker is shown only once verified, in the final answer."""

    _OPEN = re.compile(r"\s*\[[^\]]{0,20}$")

    def __init__(self):
        self.pending = ""

    def feed(self, piece: str) -> str:
        self.pending += piece
        hold = self._OPEN.search(self.pending)
        ready, self.pending = (self.pending[: hold.start()], self.pending[hold.start():]) if hold else (self.pending, "")
        trailing = len(ready) - len(ready.rstrip())  # a space may come before a marker: keep it back
        ready, self.pending = ready[: len(ready) - trailing], ready[len(ready) - trailing:] + self.pending
        return re.sub(r"\s*" + MARKER.pattern, "", ready, flags=re.I)

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return re.sub(r"\s*" + MARKER.pattern, "", rest, flags=re.I)


def lead_for(source: Source) -> str:
    """How an answer about this source begins: its method's name, else its title, and its marker."""
    return f"{source.name or source.hit.title} [{source.key}]"


def said_by(source: Source, sentence: str) -> str:
    """A sentence of `source`'s abstract as an answer sentence: third person, naming the paper."""
    sentence = third_person(" ".join(sentence.split()), source)
    name = source.name or source.hit.title
    if name.lower() in sentence.lower():
        return sentence
    head = sentence[:1].lower() + sentence[1:] if sentence[1:2].islower() else sentence
    return f"According to {name}, {head}"


def third_person(sentence: str, source: Source | None) -> str:
    """'We compute …' pasted from an abstract → 'The authors of HeadTrim compute …'."""
    match = re.match(r"(We|Our)\b", sentence)
    if not match:
        return re.sub(r"\bour\b", "their", re.sub(r"\bwe\b", "they", sentence))
    name = source.name if source else None
    subject = f"The authors of {name}" if name and name.lower() not in sentence.lower() else "The authors"
    if match.group(1) == "We":
        sentence = subject + sentence[2:]
    else:
        sentence = (f"{name}'s" if name and name.lower() not in sentence.lower() else "Their") + sentence[3:]
    sentence = re.sub(r"\bwe\b", "they", sentence)
    return re.sub(r"\bour\b", "their", sentence)


def strip_copied_headers(raw: str, sources: list[Source]) -> str:
    """Small models copy a source line whole ("[1] Title (2024): text"): keep the text, cite it at its end."""
    for source in sources:
        header = re.compile(r"(?:\[\s*%d\s*\]\s*)?%s(?:\s*\(\d{4}\))?\s*:\s*" % (source.key, re.escape(source.hit.title)))
        match = header.search(raw)
        while match:
            rest = raw[match.end():]
            end = re.search(r"[.!?](?=\s|$)", rest)
            cut = end.start() if end else len(rest)
            raw = raw[: match.start()] + rest[:cut] + f" [{source.key}]" + rest[cut:]
            match = header.search(raw)
    return raw


_VAGUE_SUBJECT = re.compile(r"^(?:Yes|No)?[,.]?\s*(It|This (?:method|approach|paper|work|system|model|study|framework)|"
                            r"The (?:proposed |new )?(?:method|approach|paper|work|system|model|study|framework|technique)|"
                            r"The authors|They)\b")


def _names(sentence: str, source: Source) -> bool:
    label = source.name
    if label and label.lower() in sentence.lower():
        return True
    title = set(re.findall(r"[a-z]{4,}", source.hit.title.lower()))
    return bool(title) and len(title & set(re.findall(r"[a-z]{4,}", sentence.lower()))) >= 0.6 * len(title)


def name_sources(parts: list[str], by_key: dict[int, Source], support: dict[int, list[str]]) -> list[str]:
    """A cited paper the answer never names gets its name in the first sentence citing it: "It prunes …" →
    "HeadTrim prunes …"; otherwise "“Title” reports that …" (a reader must know which paper says what)."""
    text = " ".join(parts)
    parts = list(parts)
    renamed: set[int] = set()
    for key in sorted(support):
        source = by_key[key]
        if _names(text, source):
            continue
        name = source.name or f"“{source.hit.title}”"
        for i, part in enumerate(parts):
            if f"[{key}]" not in part or i in renamed:
                continue
            renamed.add(i)
            vague = _VAGUE_SUBJECT.match(part)
            if vague:
                who = vague.group(1)
                subject = f"The authors of {name}" if who in ("The authors", "They") else name
                parts[i] = subject + part[vague.end():]
            else:
                body = re.sub(r"^(?:Yes|No)[,.]\s*", "", part)
                first = body.split(" ", 1)[0]
                body = body[:1].lower() + body[1:] if re.fullmatch(r"[A-Z][a-z]+,?", first) else body
                parts[i] = f"{name} reports that {body}"
            break
    return parts

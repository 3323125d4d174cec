"""Does a cited source contain what an answer sentence says? Figures and names, checked literally.

A small model copies a number from the wrong source, or invents one ("a BLEU score of 41.0 [1]"), and a
marker pointing at a retrieved paper proves nothing. So every figure (85, 85.0, 1.3x, 53 %) and every named
method or system (TokenFLEX, GPT-4, H2O) of an answer sentence must occur in the text of a source that the
sentence cites. `check_sentence` says, for one sentence, which facts each source holds, and what to do:
keep, re-cite to the one source that holds them, drop the clause that holds a figure no source gives, or
drop the sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# a number, not part of a word ("GPT-4" and "7B" are names), with the unit that makes it a figure
_FIGURE = re.compile(
    r"(?<![\w.\-/])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\s*(%|percent\b|×|x\b|X\b|times\b|-?fold\b))?(?![\w-]|\.\d)")
_RANGE = re.compile(r"(\d(?:\.\d+)?)\s*([x×%]?)\s*[-–~]\s*(?=\d)")  # 1.3x-1.6x, 2–4%: read as two figures
_WORD_NUMBERS = {w: str(n) for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_MULTIPLIERS = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
# a name: a word with a capital after its first letter (LoRA, TokenFLEX, BLEU), or letters and digits joined
# (GPT-4, H2O, Llama-2-7B, 7B), or a number joined to a word (6-DoF, 8-GPU, 4-bit: a figure a source must give)
_NAME = re.compile(r"(?<![\w-])((?:[A-Za-z]+[\w.]*[A-Z0-9][\w]*|[A-Z][a-z]*\d[\w]*|\d+[A-Za-z]+\w*|\d+-[A-Za-z]+\w*)(?:-[\w.]+)*)(?![\w-])")
# words that look like names but name nothing a source must contain
GENERIC_NAMES = {
    "ai", "api", "apis", "cpu", "cpus", "gpu", "gpus", "tpu", "llm", "llms", "lm", "lms", "nlp", "ml", "dl", "kv", "rag",
    "vlm", "vlms", "mllm", "mllms", "ir", "qa", "ok", "pdf", "url", "usa", "us", "uk", "eu", "ii", "iii", "iv", "vs", "etc",
    "cv", "rl", "io", "os", "ram", "sota", "id", "ids", "faq", "tl;dr", "e.g", "i.e", "2d", "3d", "1d", "4d",
}
MARKER = re.compile(r"\[\s*(?:sources?\s*)?(\d+(?:\s*[,;–-]\s*(?:sources?\s*)?\d+)*)\s*\]", re.I)


def _value(number: str) -> str:
    """85.0 → 85, 1,000 → 1000, 0.50 → 0.5: the same figure however it is written."""
    number = number.replace(",", "")
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return number.lstrip("0") or "0" if "." not in number else number


def figures(text: str) -> list[str]:
    """The figures of a text as normalised values ("53 %" → "53", "1.3×" → "1.3"), markers left out.

    A value is what must agree: a source that says "53%" supports "53 percent" and "a 53% drop"; units are not
    compared (a figure with the right value and the wrong unit is rare, a unit written differently is not)."""
    return [value for value, _ in with_units(text)]


def with_units(text: str) -> list[tuple[str, bool]]:
    """(value, written precisely) for each figure of a text: with a unit or decimals ("53 %", "1.00") or not
    ("308 bugs"). Markers and parenthesised years ("(2023)") are left out; ranges read as two figures."""
    text = _RANGE.sub(r"\1\2 to ", re.sub(r"\((?:19|20)\d\d\)", " ", MARKER.sub(" ", text)))
    return [(_value(m.group(1)), bool(m.group(2)) or "." in m.group(1)) for m in _FIGURE.finditer(text)]


_GLUE = {"of", "the", "a", "an", "and", "or", "in", "on", "to", "for", "with", "than", "more", "different", "distinct"}


def _counted(words: list[str]) -> set[str]:
    """What a count counts: the stems of the (up to three) words after it, "of", "the" … left out."""
    words = [w.strip(".") for w in words[:3]]
    return {w.lower()[:5] for w in words if re.fullmatch(r"[A-Za-z][\w-]*", w) and w.lower() not in _GLUE}


def word_counts(text: str) -> dict[str, set[str]]:
    """Numbers a source writes as words, with what each counts ("nine IQA datasets" → {"9": {"iqa", "datas"}}):
    they support a bare count of the same things, never a percentage, a ratio or a figure with decimals; "zero"
    and "one" support nothing ("one-step" is not a figure)."""
    tokens = re.findall(r"[\w.%×-]+", text)
    counts: dict[str, set[str]] = {}
    for i, token in enumerate(tokens):
        value = _WORD_NUMBERS.get(token.lower())
        if value and value not in ("0", "1"):
            counts.setdefault(value, set()).update(_counted(tokens[i + 1:]))
    return counts


def counted_in(text: str, value: str) -> set[str]:
    """What `value`, a figure of `text` in digits, counts there ("9 reference pictures" → {"refer", "pictu"})."""
    tokens = re.findall(r"[\w.%×-]+", text)
    return {w for i, token in enumerate(tokens) if value in figures(token) for w in _counted(tokens[i + 1:])}


def source_values(text: str) -> set[str]:
    """Every value a source gives in digits: its figures and scaled forms ("1.2 million" → 1200000, also 1.2)."""
    values = set(figures(text))
    for m in re.finditer(r"(\d+(?:\.\d+)?)\s*(hundred|thousand|million|billion)\b", text, re.I):
        values.add(_value(f"{float(m.group(1)) * _MULTIPLIERS[m.group(2).lower()]:.0f}"))
    for m in re.finditer(r"(\d+(?:\.\d+)?)\s*([kKMB])\b", text):  # 32K tokens, 7B parameters
        values.add(_value(m.group(1)))
    return values


def names(text: str) -> list[str]:
    """Words of a text that name a method, model, system or metric (see `_NAME`), generic acronyms left out."""
    text = MARKER.sub(" ", text)
    found = []
    for m in _NAME.finditer(text):
        word = m.group(1).rstrip(".")
        head = re.sub(r"(?:-[a-z]+)+$", "", word)  # "LLaVA-style", "FPGA-deployed", "LoRA-tune": the name is the head
        word = head if head != word and _NAME.fullmatch(head) else word
        if word.lower() in GENERIC_NAMES or word.lower().rstrip("s") in GENERIC_NAMES:
            continue
        if re.fullmatch(r"\d+(?:st|nd|rd|th|s)", word):  # 1st, 1990s
            continue
        found.append(word)
    return list(dict.fromkeys(found))


_PROPER = re.compile(r"(?<=[a-z,;:)] )([A-Z][a-z]{2,}(?:[ -][A-Z][a-z]+)*)")  # "… such as Sokoban", "… on Hugging Face"


def proper_names(text: str) -> list[str]:
    """Capitalised words inside a sentence ("puzzles such as Sokoban and Tetris"): names `names` does not see."""
    return list(dict.fromkeys(_PROPER.findall(MARKER.sub(" ", text))))


def _fold(text: str) -> str:
    return re.sub(r"[\s\-_]+", "", text.lower())


def holds_name(name: str, text: str) -> bool:
    """`text` contains the name, ignoring case, hyphens and spaces ("Llama 2" holds "Llama-2"), or a plural
    or possessive form of it."""
    folded, body = _fold(name), _fold(text)
    if folded in body:
        return True
    stem = re.sub(r"(?:'s|s)$", "", folded)
    return len(stem) >= 3 and stem in body


@dataclass
class SourceText:
    """What the support check knows of one numbered source: its whole text and the name it goes by."""

    key: int
    text: str  # title and the whole stored text of the paper
    year: int | None = None
    label: str | None = None  # the short name of its method, from the title ("Deoxys"), when it has one
    title: str = ""
    values: set[str] = field(default_factory=set)
    words: dict[str, set[str]] = field(default_factory=dict)  # counts written as words, with what they count

    def __post_init__(self):
        self.values = source_values(self.text)
        self.words = word_counts(self.text)
        if self.year:
            self.values.add(str(self.year))


def short_name(title: str) -> str | None:
    """The method name a title leads with: "Deoxys: A Causal ..." → "Deoxys"; none for a plain title."""
    head = title.split(":", 1)[0].strip()
    if ":" in title and 1 <= len(head.split()) <= 3 and len(head) <= 30:
        return head
    return None


@dataclass
class Verdict:
    """What to do with one answer sentence."""

    keys: list[int]  # the sources to cite (may differ from what the model wrote)
    text: str  # the sentence, perhaps without a clause whose figure no cited source gives
    dropped: list[str] = field(default_factory=list)  # figures or names taken out, and why
    unsupported: bool = False  # no source it could cite holds its facts: shown uncited, never as cited
    invented: list[str] = field(default_factory=list)  # names no retrieved source holds: the sentence is dropped


def _clauses(sentence: str) -> list[str]:
    """Pieces a figure's clause can be cut at: parentheses, then commas, semicolons and dashes."""
    parts = re.split(r"(\s*\([^()]*\)|,\s+|;\s+|\s+[—–]\s+|\s+-\s+)", sentence)
    return parts


def drop_clause(sentence: str, bad: list[str]) -> str | None:
    """`sentence` without the clauses that hold a figure in `bad`; None when nothing readable would remain."""
    parts = _clauses(sentence)
    kept: list[str] = []
    removed = False
    for part in parts:
        if any(v in figures(part) for v in bad):
            removed = True
            if kept and re.fullmatch(r",\s+|;\s+|\s+[—–]\s+|\s+-\s+", kept[-1]):
                kept.pop()
            continue
        kept.append(part)
    if not removed:
        return None
    text = "".join(kept).strip()
    text = re.sub(r"^(?:,|;|—|–|-)\s*", "", text)
    text = re.sub(r"\s+(?=[.,;!?])", "", text)
    text = re.sub(r"(?:,|;|\s+(?:and|with|by|of|to|at|while|reaching|achieving))+\s*([.!?]?)$", r"\1", text)
    if len(re.findall(r"[A-Za-z]{2,}", text)) < 4 or any(v in figures(text) for v in bad):
        return None
    if text[-1:] not in ".!?":
        text += "."
    return text


def check_sentence(sentence: str, keys: list[int], sources: dict[int, SourceText], question: str = "") -> Verdict:
    """Which sources may this sentence cite, given the figures and names it states?

    - every figure and name is in a cited source: keep the citation;
    - some are only in other retrieved sources and the sentence names no cited paper's method: cite those
      instead (the fewest sources that hold them all);
    - a figure is in no source, or only in another paper's while the sentence names a cited paper's method
      (one paper's figure credited to another): drop the clause holding it, else the sentence;
    - a name is only in sources it may not cite: the sentence stays, marked unsupported;
    - a name is in no retrieved source and not in the question ("… puzzles such as Sokoban and Tetris"): the
      model's guess; the sentence is dropped and `invented` names them.
    Names the user wrote in the question and no retrieved source holds count as given.
    """
    guessed = [n for n in proper_names(sentence)
               if not holds_name(n, question) and not any(holds_name(n, s.text) for s in sources.values())]
    if guessed:  # capitalised names of the model's own: "… games such as Sokoban, Tetris and Minesweeper"
        return _guessed(guessed)
    # a percentage, a ratio or a figure with decimals ("1.00") is never supported by a number written as a word
    unit = {value for value, precise in with_units(sentence) if precise}
    values = list(dict.fromkeys(figures(sentence)))
    # a name the question gives is the user's word, unless a retrieved source holds it: then it is that source's
    wanted_names = [n for n in names(sentence)
                    if not holds_name(n, question) or any(holds_name(n, s.text) for s in sources.values())]
    if not values and not wanted_names:
        return Verdict(keys, sentence)

    def gives(source: SourceText, value: str) -> bool:
        # "nine IQA datasets" supports "9 datasets", never "9 reference pictures"
        return value in source.values or (value not in unit and value in source.words
                                          and bool(source.words[value] & counted_in(sentence, value)))

    def holds(source: SourceText, fact: tuple[str, str]) -> bool:
        kind, value = fact
        return gives(source, value) if kind == "figure" else holds_name(value, source.text)

    # the papers the sentence names ("Deoxys cuts …", or a title it starts with): its figures must be theirs,
    # whatever it cites
    subject = _subject(sentence, sources)
    named = [s for s in sources.values() if s.label and holds_name(s.label, sentence) or s is subject]
    foreign = [v for v in values if named and not any(gives(s, v) for s in named)]
    if foreign:
        return _cut(sentence, foreign, keys, sources, question)
    # … and a sentence about one paper never names another's own method: "<paper 1> presents TPI-LLM [3]" credits
    # paper 3's system to paper 1 (the answer's lead names the best-ranked paper; small models go on about another)
    credited = [n for n in wanted_names if subject and not holds_name(n, subject.text)
                and any(s.label and holds_name(n, s.label) for s in sources.values() if s is not subject)]
    if credited:
        return Verdict([], "", [f"{n} (another paper's, in a sentence about {subject.label or subject.title})" for n in credited])

    facts = [("figure", v) for v in values] + [("name", n) for n in wanted_names]
    cited = [sources[k] for k in keys if k in sources]
    missing = [f for f in facts if not any(holds(s, f) for s in cited)]
    if not missing:
        return Verdict(keys, sentence)

    subject_keys = {s.key for s in named}
    verdict = Verdict(list(keys), sentence)
    elsewhere = {f: [s.key for s in sources.values() if holds(s, f)] for f in missing}
    movable = all(elsewhere[f] for f in missing) and not (subject_keys & set(keys)) and not (
        subject_keys and not all(set(elsewhere[f]) & subject_keys for f in missing))
    if movable:
        # fewest sources that hold every fact of the sentence, preferring those already cited, then rank order
        chosen: list[int] = []
        for fact in facts:
            if any(holds(sources[k], fact) for k in chosen):
                continue
            holders = [k for k in keys if k in sources and holds(sources[k], fact)] or elsewhere.get(fact) or []
            if holders:
                chosen.append(holders[0])
        verdict.keys = sorted(chosen)
        return verdict

    bad_figures = [v for kind, v in missing if kind == "figure"]
    if bad_figures:
        return _cut(sentence, bad_figures, keys, sources, question)
    invented = [n for kind, n in missing if not elsewhere[(kind, n)]]
    if invented:
        return _guessed(invented)
    verdict.unsupported = True
    verdict.keys = []
    verdict.dropped = [f"{n} (in no cited source)" for kind, n in missing]
    return verdict


def _guessed(invented: list[str]) -> Verdict:
    """A sentence stating names no retrieved source holds: dropped, the names kept for the answer's note."""
    return Verdict([], "", [f"{n} (in no retrieved source)" for n in invented], invented=invented)


def _subject(sentence: str, sources: dict[int, SourceText]) -> SourceText | None:
    """The source a sentence is about when it begins with its name or title ("Deoxys reduces …")."""
    head = _fold(re.sub(r"^[\s“\"'(]+", "", sentence))
    for source in sources.values():
        for name in (source.label, source.title):
            if name and len(_fold(name)) >= 3 and head.startswith(_fold(name)):
                return source
    return None


def _cut(sentence: str, bad: list[str], keys: list[int], sources: dict[int, SourceText], question: str) -> Verdict:
    """The sentence without the clauses of figures it may not state, checked again; empty if nothing remains."""
    dropped = [f"{v} ({'from another paper' if any(v in s.values for s in sources.values()) else 'in no retrieved source'})"
               for v in bad]
    shorter = drop_clause(sentence, bad)
    if shorter is None:
        return Verdict([], "", dropped)
    rest = check_sentence(shorter, keys, sources, question)
    rest.dropped = dropped + rest.dropped
    return rest

"""What figure a question asks for, and whether a sentence gives it.

"How many hours of audio …", "what COCO-30k FID …", "how much faster …", "what share …": a question of this kind
is answered only by a figure of that kind. An answer that gives some other figure ("a 3.8-billion-parameter
model" for "how big was the token budget") has not answered it, and a small model rarely says so. So each
asked figure is looked for in the answer's verified sentences, then in the cited sources' sentences (which are
added, cited, when they hold it), and only then is the answer told that the sources do not report it.

A sentence gives an asked figure when one of its numbers stands next to the asked thing: a unit it ends with
(4.1×, 48%), or a word naming the thing within a few words of it ("308 fixed bugs", "FID of 12.3").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .support import MARKER, holds_name, names

NEAR_WORDS = 5  # an asked word this many words from a number makes it that number
NAME_BEFORE, NAME_AFTER = 3, 8  # a name this many words before or after an asked thing names it
# words that end the thing a "how many …" asks for ("how many hours of audio do …" asks for hours)
_STOP = set("do does did are is was were be been in of on for from the a an can could would will they it its there "
            "and or to with per at by that which when if this those these you we i their has have had get got "
            "went go goes into onto come came took take needed need used make made exist appear".split())
_SPEED = ("x", "×", "times", "fold", "faster", "speedup", "speed-up", "speed", "quicker", "acceleration")
_TIME = ("second", "s", "sec", "ms", "millisecond", "minute", "min", "hour", "h", "day", "week", "latency", "time")
# metrics and units a question names: each with the spellings a source uses for it
_METRICS = {
    "fid": ("fid",), "bleu": ("bleu",), "rouge": ("rouge",), "f1": ("f1",), "auc": ("auc", "auroc"),
    "map": ("map",), "psnr": ("psnr", "db"), "ssim": ("ssim",), "perplexity": ("perplexity", "ppl"),
    "wer": ("wer", "word error"), "accuracy": ("accuracy", "accurate", "%"), "hz": ("hz", "fps", "frames"), "fps": ("fps", "hz", "frames"),
    "frame rate": ("fps", "hz", "frames per second", "frame rate"),
    "frames per second": ("fps", "hz", "frames per second", "frame"), "latency": ("ms", "millisecond", "second", "latency"),
    "milliseconds": ("ms", "millisecond"), "seconds": ("s", "sec", "second"), "hours": ("hour", "hours", "h"),
    "throughput": ("tokens/s", "throughput", "per second", "/s"), "success rate": ("success", "%"),
    "tokens per second": ("tokens/s", "tokens per second", "token/s", "tok/s"), "score": ("score", "accuracy", "%", "points"),
    "power": ("watt", "w", "mw", "kw", "power"), "energy": ("energy", "joule", "j", "mj", "wh", "kwh"),
}
# things a "which …" question asks to be named ("which cities was it evaluated on"): a sentence naming none of
# them has not answered it, and the paper's own method is never one of them
# of those, things an answer names in its own words, not beside the word ("a DDIM-based procedure" for "which
# sampler", "K-means clustering" for "which grouping algorithm"): any new name in a sentence gives them
_LOOSE_THINGS = (r"algorithms?|detectors?|checkpoints?|games|suites?|vlms?|samplers?|optimi[sz]ers?|encoders?|"
                 r"tokeni[sz]ers?|metrics?|architectures?")
_NAMED_THINGS = (r"datasets?|benchmarks?|corpora|corpus|cities|city|countries|country|languages|baselines|robots?|"
                 r"simulators?|hospitals?|companies|species|organisms?|institutions|universities|llms?|models|"
                 r"language models|base models?|model families|puzzles|engines|backbones?|licen[cs]es?|features|"
                 r"modalit(?:y|ies)|embodiments?|bodies|" + _LOOSE_THINGS)
# words between "which" and the asked thing that make it the question's subject, not what it asks to be named
# ("what does the model …", "which of these tasks …")
_NOT_ASKED = {"does", "do", "did", "can", "could", "would", "should", "of", "has", "have"}
_LABEL_WORDS = {"which", "were", "used", "size", "figure", "many", "much", "what", "takes", "from", "less"}
_UNITS = {"hz", "fps", "frames per second", "milliseconds", "seconds", "hours", "tokens per second"}
_METRIC = re.compile(r"\b(" + "|".join(re.escape(m) for m in sorted(_METRICS, key=len, reverse=True)) + r")\b", re.I)
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:\s*(?:%|×|x\b|-?fold\b))?|(?:two|three|four|five|six|seven|eight|"
                     r"nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundreds?|thousands?|millions?|billions?|"
                     r"trillions?|dozens?)$")


# "is the engine open source?", "have its weights been released?": only a source that says so answers it
_ASKS_RELEASE = re.compile(r"\bopen[- ]sourced?\b(?! (?:llms?|models?|language models?)\b)|\bofficial code\b|\bgithub\b|"
                           r"\b(?:code|weights|checkpoints?)\b[\w\s,-]{0,30}\b(?:released?|available|public|shared)\b|"
                           r"\b(?:releas\w*|publish\w*|shar\w*) (?:\w+ ){0,2}(?:code|weights|checkpoints?)\b", re.I)
_SAYS_RELEASE = re.compile(r"\bopen[- ]sourc\w*|\breleas\w*|publicly available|\bavailable (?:at|on|online|from)\b|"
                           r"\bgithub\b|https?://|\bcode\b[\w\s,-]{0,40}\bavailable\b", re.I)
_CLAIMS_RELEASE = re.compile(r"\b(?:open[- ]sourc\w*|releas\w*|publicly|available|github|weights)\b", re.I)
RELEASE_NOTE = "The cited abstracts do not say whether its code or weights are released."


def asks_release(question: str) -> bool:
    return bool(_ASKS_RELEASE.search(question))


def says_release(source_text: str) -> bool:
    """Does a source speak of releasing its code or weights (or give a link)?"""
    return bool(_SAYS_RELEASE.search(source_text))


def speaks_of_release(sentence: str) -> bool:
    return bool(_CLAIMS_RELEASE.search(MARKER.sub(" ", sentence)))


@dataclass(frozen=True)
class Ask:
    """One figure a question asks for: what it is called in a note, and the words that name it near a number."""

    label: str  # "how many hours of audio", "the speedup"
    words: tuple[str, ...]  # lower-case stems; a number next to one of them gives the figure
    units: tuple[str, ...] = ()  # a number written with one of these gives it too ("48%", "4.1×")
    named: bool = False  # asks for a name (which dataset), not a figure
    loose: bool = False  # … that any new name in a sentence gives, wherever it stands

    def named_in(self, sentence: str) -> bool:
        """Does `sentence` speak of this asked thing? ("… does not report how much faster …": the speedup)"""
        stems = [w for w in (*self.words, *re.findall(r"[a-z]{4,}", self.label.lower())) if len(w) >= 4 and w not in _LABEL_WORDS]
        return any(word.startswith(stem) for word in re.findall(r"[a-z][\w-]*", sentence.lower()) for stem in stems)


def asked_figures(question: str) -> list[Ask]:
    """The figures a question asks for, in its order; none for a question that asks for no figure."""
    text = re.sub(r"\b(what|how|which)'s\b", r"\1 is", " ".join(question.split()), flags=re.I)
    asks: list[Ask] = []
    for m in re.finditer(r"\bhow many (times )?([\w/-]+(?: [\w/-]+){0,3})", text, re.I):
        if m.group(1) or m.group(2).lower().split()[0] in ("faster", "quicker", "slower", "more"):
            _add_speedup(asks)
            continue
        words = []
        for word in m.group(2).lower().split():
            if word in _STOP:
                break
            words.append(word)
        if words:
            noun = words[-1]
            stems = (_stem(noun), *_METRICS.get(noun, ())) if noun in _UNITS else tuple(_stem(w) for w in noun.split("/"))
            asks.append(Ask(f"how many {' '.join(words)}", stems))
    if re.search(r"\bhow much (faster|quicker|slower)\b|\bhow many times\b|\bwhat ([\w-]+ ){0,2}speed-?ups?\b|"
                 r"\bhow much (of a |end-to-end )?speed-?up\b", text, re.I):
        _add_speedup(asks)
    if re.search(r"\bwhat (percent|percentage|share|fraction|proportion)\b|\bwhat % |\bhow much ([\w-]+ ){0,6}"
                 r"(reduc|cut|sav|lower|drop|shrink|improv|increas|fewer|less)\w*", text, re.I):
        asks.append(Ask("the percentage", ("reduc", "sav", "cut", "lower", "fewer", "less", "improv", "increas",
                                           "from", "drop", "percent", "share"), ("%", "×", "x", "fold")))
    for m in re.finditer(r"\bhow (big|large|long)\b(?: (?:is|was|are|were|does|do|did))?((?: [\w-]+){1,6})", text, re.I):
        words = [w for w in re.findall(r"[a-z][\w-]*", m.group(2).lower()) if w not in _STOP]
        if m.group(1).lower() == "long":
            asks.append(Ask("how long it takes", _TIME))
        elif any(w.startswith("speed") for w in words):
            _add_speedup(asks)
        elif words:
            asks.append(Ask(f"the size of the {' '.join(words[:3])}", tuple(_stem(w) for w in words[:4])))
    if re.search(r"\bhow (fast|quickly)\b|\bwhat (?:[\w-]+ ){0,2}speeds?\b(?!-)", text, re.I):
        asks.append(Ask("the speed", _SPEED + _TIME + ("throughput", "tokens/s", "fps"), ("×", "x")))
    if re.search(r"\bhow well\b", text, re.I):  # "how well can it predict …": a score answers it
        asks.append(Ask("a figure for how well it does", ("accura", "f1", "auc", "precis", "recall", "score", "success",
                                                           "correl", "rate"), ("%",)))
    for m in re.finditer(r"\bhow much (bigger|larger|smaller|more)\b(?: ([a-z][\w-]+))?", text, re.I):
        # "how much bigger models can it serve": answered by a figure beside those words, not by another gain
        comparative, noun = m.group(1).lower(), (m.group(2) or "").lower()
        same = {"bigger": ("bigger", "larger"), "larger": ("bigger", "larger"), "more": ("more", "higher", "increas"),
                "smaller": ("smaller", "reduc", "compress", "shrink", "fewer", "less")}[comparative]
        noun = "" if noun in _STOP else noun
        asks.append(Ask(f"how much {comparative} {noun}".strip(), (*same, *((_stem(noun),) if noun else ()))))
    if re.search(r"\bby how much\b|\bhow much (shorter|longer|better|higher|lower)\b|"
                 r"\bwhat (\w+[ -]){0,2}(gain|improvement)s?\b", text, re.I):
        asks.append(Ask("the size of the gain", ("gain", "improv", "faster", "speedup", "higher", "better", "reduc",
                                                 "smaller", "fewer", "shorter", "less"), ("%", "×", "x", "fold")))
    for m in re.finditer(r"\b(which|what)\b((?: [\w-]+){0,4}?) (" + _NAMED_THINGS + r")\b(?! (?:on|it|them|against|with)\b)", text, re.I):
        if set(m.group(2).lower().split()) & _NOT_ASKED:
            continue
        noun = m.group(3).lower()
        plural = noun.endswith("s") and not noun.endswith("ss") or noun == "corpora"
        said = m.group(3) if re.search(r"[A-Z]{2}", m.group(3)) else noun  # "which LLMs were used"
        label = "the licence" if noun.startswith("licen") else f"which {said} {'were' if plural else 'was'} used"
        words = ("bodie", "embodim") if noun.startswith(("bodies", "embodiment")) else (_stem(noun)[:7],)
        asks.append(Ask(label, words, named=True, loose=bool(re.fullmatch(_LOOSE_THINGS, noun))))
    if asks or re.search(r"\b(what|which|how|report|get|reach|achieve)\b", text, re.I):
        for m in _METRIC.finditer(text):
            name = m.group(1).lower()
            label = f"the figure in {m.group(1)}" if name in _UNITS else f"the {m.group(1)}"
            if not any(name in ask.label.lower() for ask in asks) and _asks_for_metric(text, m.start()):
                asks.append(Ask(label, tuple(_stem(w) for w in _METRICS[name])))
    if re.search(r"\b(parameter count|number of parameters|how many (?:weights|parameters))\b", text, re.I) and not any(
            ask.label.startswith("how many param") for ask in asks):
        asks.append(Ask("the parameter count", ("param",)))
    if re.search(r"\b(by )?what factor\b", text, re.I):
        asks.append(Ask("the factor", ("factor", "times", "fold", "smaller", "reduc", "compress", "faster", "fewer"),
                        ("×", "x", "fold")))
    for m in re.finditer(r"\b(which|what)\b(?: [\w-]+){0,3}? (chips?|hardware|gpus?|devices?|processors?|phones?|smartphones?|boards?)\b", text, re.I):
        asks.append(Ask("which hardware was used", ("chip", "hardware", "gpu", "device", "processor", "accelerator",
                                                    "cpu", "fpga", "tpu", "phone", "smartphone", "board", "soc"), named=True))
        break
    if any(ask.label.startswith("how many") for ask in asks):  # "how large is it: how many workers, tasks …"
        asks = [ask for ask in asks if not ask.label.startswith("the size of")]
    return asks


def _add_speedup(asks: list[Ask]) -> None:
    if not any(ask.label == "the speedup" for ask in asks):
        asks.append(Ask("the speedup", _SPEED, ("×", "x", "fold")))


def _asks_for_metric(text: str, at: int) -> bool:
    """"What FID does it reach", "its control rate in Hz": the metric is asked for, not just mentioned."""
    before = text[max(0, at - 60): at].lower()
    return bool(re.search(r"\b(what|which|how|exact)\b(?:\W+[\w'-]+){0,4}\W*$|\bin\s*$", before))


def initials(text: str) -> set[str]:
    """The acronyms a text's runs of words spell ("image quality assessment" → "iqa"): an answer's "IQA" names
    nothing the question did not."""
    letters = [w[0].lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", text)]  # "context-aware decoding" → CAD
    return {"".join(letters[i:i + n]) for n in range(2, 6) for i in range(len(letters) - n + 1)}


def _stem(word: str) -> str:
    word = word.lower()
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


def _names(word: str, stem: str) -> bool:
    """A word of a sentence names an asked thing: it starts with its stem ("bugs" for "bug"); a short stem
    ("s", "ms", "x") only as the whole word."""
    word = word.strip(".,;:")
    return word == stem if len(stem) <= 2 else word.startswith(stem)


def gives(ask: Ask, sentence: str, question: str = "", title: str = "", spelled: bool = True) -> bool:
    """Does `sentence` state the figure `ask` asks for? (For a name: one the question and the paper's `title`
    do not already hold, in a sentence about the asked thing.) `spelled=False`: only a figure in digits counts
    ("three key objectives: throughput" gives no throughput)."""
    given = set(re.findall(r"\d[\d,.]*\d|\d", f"{question} {title}"))  # "Llama Guard 3", "Evidence Inference 2.0"
    text = MARKER.sub(" ", sentence)
    if ask.named:  # a new name next to the asked thing: "… on the SG-FRONT dataset", "cities: Beijing, Shanghai"
        words = re.findall(r"[\w.+-]+", text)
        proper = {w for w in words[1:] if re.fullmatch(r"[A-Z][a-z]{2,}|[A-Z]-[a-z]+", w)}  # Beijing, English, K-means
        new = {name for name in {*names(text), *proper}
               if not holds_name(name, f"{question} {title}") and name.lower() not in initials(question)}
        if ask.loose:
            return bool(new)
        at = [i for i, w in enumerate(words) for stem in ask.words if _names(w.lower(), stem)]
        return any(any(holds_name(name, w) and len(w) < len(name) + 4 for name in new)
                   for i in at for w in words[max(0, i - NAME_BEFORE): i + NAME_AFTER + 1])
    text = re.sub(r"\((?:19|20)\d\d\)", " ", text)
    tokens = re.findall(r"[\w.%×/-]+", text.lower())
    for i, token in enumerate(tokens):
        number = _NUMBER.match(token)
        if not number or number.group(0).rstrip("%×x").rstrip() in given:
            continue
        if (ask.units or not spelled) and not token[0].isdigit():  # "millions of users": never a speedup or a share
            continue
        rest = token[number.end():]
        if any(token.endswith(unit) or rest.startswith(unit) for unit in ask.units if unit):
            return True
        window = tokens[max(0, i - NEAR_WORDS): i + NEAR_WORDS + 1]
        if any(_names(word, stem) for word in window for stem in ask.words) or \
                any(rest.startswith(stem) for stem in ask.words):
            return True
    return False


def giving_sentence(ask: Ask, question: str, sources: list) -> tuple[object, str] | None:
    """The first of `sources` (evidence `Source`s, best first) with a sentence that gives `ask`, and of its
    sentences the one sharing most words with the question, a figure in digits before one in words: "2.35x more
    throughput with the same cost and power budgets" for "… how much more throughput at equal cost and power?"."""
    asked = content_words(question)
    ask = replace(ask, loose=False)  # a source's sentence gives a name beside the asked thing, not anywhere
    for source in sources:
        for spelled in (False, True):
            found = [s for s in source.all_sentences[1:] if gives(ask, s, question, source.hit.title, spelled)]
            if found:
                return source, max(found, key=lambda s: len(content_words(s) & asked))
    return None


def content_words(text: str, stop: set[str] = _STOP) -> set[str]:
    """A text's words of three letters or more, cut to six, less `stop`: what two texts share is compared on these."""
    return {w[:6] for w in re.findall(r"[a-z]{3,}", text.lower()) if w not in stop}

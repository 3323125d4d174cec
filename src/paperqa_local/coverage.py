"""What an answer says is not reported, checked against the sources it cites.

A 1.5B model answers the first part of "which model is it, and which sampler does it build on?" and says the
abstract does not report the second when a sentence of the abstract gives it (on the fifth held-out set 27 of
the 60 facts missed with the right paper cited were "not reported" wrongly; on a CPU the sentence was often not
among those sent). So each such note of the model's is put back to it as a choice: the sentences of the cited
sources closest to what the note says is missing (sent or not), numbered, and "0. none of them". The prompt is
the answer's own conversation, so its KV cache is reused and only the choice is read (about 150 tokens). The
model's log-probabilities of the numbers decide: when one sentence beats "none" by `FILL_MARGIN`, that sentence,
in the source's own words (third person, naming the paper), replaces the note and is cited. Whatever figure or
name it holds is in the source it cites; when no sentence is chosen, the note stays.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from .evidence import ASKS_FIGURE, Source, clauses
from .support import figures, holds_name, names
from .text import split_sentences
from .wording import said_by, with_markers

if TYPE_CHECKING:
    from .qa import PaperQA

FILL_MARGIN = 0.0  # log-probability by which the chosen sentence must beat "none of them"
CHOICES = 3  # sentences offered per note
MAX_NOTES = 2  # notes checked per answer
DUPLICATE_SIMILARITY = 0.9  # a source sentence this close to an answer sentence is said already
_OURS = re.compile(r"^The cited abstracts do not (mention|report)\b")  # the pipeline's own notes: searched already
# a note on a detail ("does not report which sampler …", "… the latency gain") can be wrong; one on a topic ("does
# not report on pruning spiking networks", "… whether it was tested on X", "… information on …") is how the model
# says a neighbouring paper is not about the question: on the fifth held-out set every off-corpus note put to the
# model was answered with some sentence, and 5 of its 7 were of that kind
_DETAIL = re.compile(r"(which|what|how|the|its|their|any)\b", re.I)
_MISSING = re.compile(r"\b(?:not|never|no)\s+(?:\w+\s+){0,2}?(?:report|state|give|mention|specif|provide|say|quantif|disclose|"
                      r"include|discuss|describe|detail)\w*\s+(?:on\s+|about\s+|whether\s+)?", re.I)


def new_facts(sentence: str, known: str) -> list[str]:
    """The names and figures of `sentence` that `known` (the question and the answer) does not hold: what a
    sentence that answers a missing part brings. A sentence without any is not offered (on the fifth held-out
    set the model, offered such sentences, chose one for almost every note, off-corpus questions' included)."""
    proper = [w for w in re.findall(r"(?<=\w )[A-Z][a-z]{2,}\b", sentence) if w.lower() not in known.lower()]  # Ascend
    return _new_names(sentence, known) + proper + _new_figures(sentence, known)


def _new_names(sentence: str, known: str) -> list[str]:
    return [n for n in names(sentence) if not holds_name(n, known)]


def _new_figures(sentence: str, known: str) -> list[str]:
    said = set(figures(known))
    return [f for f in figures(sentence) if f not in said]


_ASKS_QUANTITY = re.compile(r"\b(number|percentage|share|fraction|how (much|many|far|long|large|big|fast)|by how)\b", re.I)


def gives_kind(missing: str, sentence: str, known: str) -> bool:
    """Does `sentence` hold the kind of fact `missing` asks for, new to `known` (the question and the note): a
    figure for a quantity ("how many GPU-hours"), a name for anything else ("which sampler")? A sentence the
    model chose that holds only the other kind answers something else (near-miss questions of the sixth
    held-out set: "the number of checkpoints in the soup" answered with a sentence naming the method)."""
    quantity = ASKS_FIGURE.search(missing) or _ASKS_QUANTITY.search(missing)
    return bool(_new_figures(sentence, known) if quantity else _new_names(sentence, known))


def missing_part(note: str) -> str:
    """What a note says the sources lack: "The abstract does not report which sampler it uses." → "which
    sampler it uses"."""
    found = _MISSING.search(note)
    rest = note[found.end():] if found else note
    return rest.strip().rstrip(".") or note


CHOICE_HEAD = "Here are more sentences of the sources:"


def choice_prompt(asked: str, sentences: list[str]) -> str:
    listed = "\n".join(f"{n}. {sentence}" for n, sentence in enumerate(sentences, 1))
    return (f"{CHOICE_HEAD}\n{listed}\n0. None of them.\n\n"
            f"Which one of them tells {asked}? Reply with its number only.")


def fill_notes(qa: PaperQA, messages: list[dict[str, str]], raw: str, question: str, text: str,
               support: dict[int, list[str]], sources: list[Source], is_note) -> tuple[str, list[dict]]:
    """`text` with each of the model's notes of what is not reported that a cited sentence answers replaced by
    that sentence, cited (see the module's doc); `support` gains the sentences. Returns the text and, per note
    put to the model, what it chose and by what margin."""
    llm = qa.llm
    sentences = split_sentences(text)
    notes = [s for s in sentences if is_note(s) and not _OURS.match(s) and _DETAIL.match(missing_part(s))][:MAX_NOTES]
    targets = [s for s in sources if s.key in support] or sources[:1]
    if not notes or not targets or not hasattr(llm, "score_options"):
        return text, []
    said = [s for s in sentences if not is_note(s)]
    asked = [missing_part(note) for note in notes]
    parts = clauses(question) or [question]
    vectors = qa.embedder.embed([*asked, *parts, *said])
    asked_vectors, part_vectors, said_vectors = (vectors[: len(asked)], vectors[len(asked): len(asked) + len(parts)],
                                                 vectors[len(asked) + len(parts):])
    replaced: dict[str, str] = {}
    fills: list[dict] = []
    known = f"{question} {text}"
    for note, what, vector in zip(notes, asked, asked_vectors):
        part_vector = part_vectors[int(np.argmax(part_vectors @ vector))]  # the clause of the question it is about
        pool: list[tuple[float, Source, str]] = []
        for source in targets:
            body, body_vectors = source.all_sentences[1:], source.vectors[1:]
            if not body:
                continue
            score = np.maximum(body_vectors @ vector, body_vectors @ part_vector)
            for index in np.argsort(-score):
                if len(said) and float((said_vectors @ body_vectors[index]).max()) >= DUPLICATE_SIMILARITY:
                    continue
                if not new_facts(body[int(index)], known):
                    continue  # nothing it holds is missing from the answer
                pool.append((float(score[index]), source, body[int(index)]))
        pool = sorted(pool, key=lambda entry: -entry[0])[:CHOICES]
        if not pool:
            continue
        choice = [*messages, {"role": "assistant", "content": raw},
                  {"role": "user", "content": choice_prompt(what, [sentence for _, _, sentence in pool])}]
        with llm.lock:
            scores = llm.score_options(choice, [[str(n)] for n in range(len(pool) + 1)])
        best = 1 + int(np.argmax(scores[1:]))
        margin = float(scores[best] - scores[0])
        fills.append({"note": note, "asked": what, "margin": round(margin, 3), "sentence": pool[best - 1][2]})
        if margin <= FILL_MARGIN or not gives_kind(what, pool[best - 1][2], f"{question} {note}"):
            continue
        _, source, sentence = pool[best - 1]
        sentence = said_by(source, sentence)
        if sentence in replaced.values():
            replaced[note] = ""
            continue
        support.setdefault(source.key, []).append(sentence)
        replaced[note] = with_markers(sentence, [source.key])
        known += f" {sentence}"
        fills[-1]["shown"] = replaced[note]
    if not replaced:
        return text, fills
    kept = [s for s in sentences if s not in replaced]
    notes_left = [s for s in kept if is_note(s)]
    added = [sentence for sentence in replaced.values() if sentence]
    return " ".join([*(s for s in kept if s not in notes_left), *added, *notes_left]), fills

"""From a question to an answer whose every figure and name is in the source it cites.

retrieve → evidence within a token budget (`evidence.py`) → decide whether to answer → write → verify:
- a question whose best evidence is too weak is declined without asking the model (off-corpus);
- otherwise the model's probability of starting its reply with the decline is read from the prompt's
  logits (free: the prompt is evaluated anyway) and weighed against retrieval relevance
  (`models.AnswerCalibration`, tuned on the dev split of the seeds questions): a small model told it may
  decline refuses half-answerable questions, so above the calibrated line the decline is not allowed and
  the model answers what the sources say;
- after writing, every marker is checked: one that points to no source is dropped, an unmarked sentence is
  attributed to the source sentence it matches (small models copy), and each figure and name must be in a
  cited source (`support.py`): re-cited, cut, or the sentence dropped — never shown as cited when it is not;
- a figure the question asks for ("how many hours …", "what FID …", `asks.py`) that no verified sentence
  gives is taken from a cited source's sentence that gives it, else the answer says it is not reported.
The system prompt and its worked example never change, so llama.cpp reuses their KV cache across questions.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .asks import RELEASE_NOTE, asked_figures, asks_release, content_words, gives, giving_sentence, says_release, speaks_of_release
from .coverage import fill_notes
from .followup import condense, previous_turn, with_previous_papers
from .evidence import ASKS_MANY, Source, best_sentence, render_sources, select_evidence, subjects
from .guard import copies
from .models import calibration_for
from .support import MARKER, check_sentence, figures, holds_name, names
from .wording import MarkerFilter, lead_for, name_sources, said_by, strip_copied_headers, third_person, with_markers
from .text import split_sentences
from .types import Answer, Citation, SearchHit

if TYPE_CHECKING:
    from .qa import PaperQA

DECLINE = "Cannot answer from the indexed papers."
SYSTEM_PROMPT = (
    "You answer a researcher's question using only the numbered paper abstracts given. Name the method or paper "
    "you describe and write about it in the third person (never 'we'). After every sentence put the number of the "
    "source it comes from in square brackets, like [1]. Give figures exactly as the source states them and never "
    "a figure the sources do not give. If the sources answer only part of the question, answer that part and say "
    "which part they do not report. If no source addresses the question at all, reply exactly: "
    f"{DECLINE} Answer in one to four sentences."
)
# A worked example, written for this project (the papers are invented), shown before every question as an
# earlier turn: it shows naming the method, figures with their source, and saying what is not reported.
EXAMPLE = (
    "Sources:\n"
    "[1] HeadTrim: Pruning Attention Heads at Load Time: HeadTrim prunes the attention heads of a pretrained "
    "transformer when it is loaded, using activation statistics from 64 calibration samples. … On LLaMA-7B it "
    "removes 30% of the heads while keeping 98.1% of the original accuracy.\n"
    "[2] Sparse Adapters for Multilingual Translation: Sparse adapters add 2% parameters per language pair.\n\n"
    "Question: can I drop attention heads from a trained model without retraining it, and how much memory does that save?",
    "HeadTrim prunes attention heads of a pretrained transformer when it is loaded, using statistics from 64 "
    "calibration samples instead of retraining [1]. On LLaMA-7B it removes 30% of the heads while keeping 98.1% of "
    "the original accuracy [1]. The abstract does not report how much memory this saves.",
)
# and one whose sources do not address the question, so the model's probability of declining means something
DECLINE_EXAMPLE = (
    "Sources:\n"
    "[1] Sparse Adapters for Multilingual Translation: Sparse adapters let one translation model serve many "
    "language pairs.\n\n"
    "Question: which fertiliser schedule gives the best wheat yield on clay soil?",
    DECLINE,
)
NOT_REPORTED = re.compile(
    r"\b(not|never) (report|state|give|mention|specif|provide|say|quantif|disclose|include|discuss|describe)\w*|"
    r"\b(no|without) (figure|number|value|data|details?|information|mention)\b|\bnot (reported|stated|given|mentioned)\b|"
    r"cannot answer|can't answer|does not (address|cover)", re.I)
MAX_SENTENCES = 6  # an answer is a paragraph: what follows is repetition
ATTRIBUTE_MIN_SIMILARITY = 0.55  # an unmarked sentence is attributed to a source sentence at least this similar
HISTORY_ANSWER_CHARS = 400
CITE_MARGIN = 0.08  # a sentence's second source is kept when its closest sentence is this close to the best one's


def _markers(text: str) -> list[int]:
    return [int(n) for group in MARKER.findall(text) for n in re.findall(r"\d+", group)]


def build_messages(question: str, sources: list[Source], previous: tuple[str, str, list[str]] | None = None) -> list[dict[str, str]]:
    user = f"Sources:\n{render_sources(sources)}\n\n"
    if previous:
        earlier = MARKER.sub("", previous[1]).strip()[:HISTORY_ANSWER_CHARS]
        user += f"Earlier question: {previous[0]}\nEarlier answer: {earlier}\n\nFollow-up question: {question}"
    else:
        user += f"Question: {question}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": EXAMPLE[0]},
            {"role": "assistant", "content": EXAMPLE[1]}, {"role": "user", "content": DECLINE_EXAMPLE[0]},
            {"role": "assistant", "content": DECLINE_EXAMPLE[1]}, {"role": "user", "content": user}]


_EXAMPLE_SENTENCES = [set(re.findall(r"\w+", s.lower())) for s in split_sentences(EXAMPLE[1])]
# the examples' telltale words: two of them in a sentence, neither from the question nor the sources, is a copy
_EXAMPLE_WORDS = set("headtrim pruning prunes heads calibration samples loaded retraining memory saves fertiliser "
                     "schedule wheat yield clay soil adapters sparse multilingual translation language pair pairs parameters".split())


def copied_from_example(sentence: str, context: str = "") -> bool:
    """Small models copy the worked examples: their sentences ("The abstract does not report how much memory …"),
    or their words ("… add 2% parameters per language pair", "… no fertiliser schedule"). `context` (the question
    and the sources) holds the words that are the sentence's own."""
    words = set(re.findall(r"\w+", sentence.lower()))
    if any(len(words & example) >= 0.9 * len(example) for example in _EXAMPLE_SENTENCES):
        return True
    own = set(re.findall(r"[a-z]{4,}", context.lower()))
    return len((words & _EXAMPLE_WORDS) - own) >= 2


def _own_figures(sentence: str, question: str) -> list[str]:
    """The figures of a sentence that the question did not give ("… than Llama Guard 3" repeats the question)."""
    asked = set(figures(question))
    return [value for value in figures(sentence) if value not in asked]


def verify_citations(qa: PaperQA, raw: str, sources: list[Source], question: str = "", name: bool = True) -> tuple[str, dict[int, list[str]], list[str], list[str]]:
    """The answer as shown: markers that point to no source dropped, unmarked sentences attributed, figures and
    names checked against the cited sources. Returns (text, supporting sentences per key, sentences shown
    uncited, facts dropped with the reason)."""
    by_key = {source.key: source for source in sources}
    texts = {source.key: source.support_text() for source in sources}
    sentences: list[tuple[str, list[int]]] = []
    def named(match: re.Match) -> str:
        source = by_key.get(int(match.group(2)))
        return f"{match.group(1)} {lead_for(source)}" if source else match.group(0)

    for sentence in split_sentences(strip_copied_headers(raw.strip(), sources)):
        keys = [key for key in dict.fromkeys(_markers(sentence)) if key in by_key]
        # "the abstract from [2] says": the marker is the only name the sentence has
        sentence = re.sub(r"\b(from|in|by|of|see|source|paper|abstract|study)\s+\[(\d+)\]", named, sentence, flags=re.I)
        bare = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(MARKER.sub("", sentence).split()))
        if not re.search(r"\w", bare):  # a sentence that was only a marker belongs to the one before it
            if sentences and keys:
                sentences[-1][1].extend(k for k in keys if k not in sentences[-1][1])
            continue
        if NOT_REPORTED.search(bare) and not _own_figures(bare, question):
            keys = []  # "the abstract does not report X" needs no source, and no source says it
        sentences.append((bare, keys))

    unmarked = [i for i, (bare, keys) in enumerate(sentences) if not keys and not NOT_REPORTED.search(bare)]
    vectors = qa.embedder.embed([sentences[i][0] for i in unmarked]) if unmarked and sources else np.zeros((0, 1))
    for row, index in enumerate(unmarked):
        best_key, best_sim = max(((s.key, float((s.vectors @ vectors[row]).max())) for s in sources), key=lambda p: p[1])
        if best_sim >= ATTRIBUTE_MIN_SIMILARITY:
            sentences[index][1].append(best_key)

    support: dict[int, list[str]] = {}
    uncited: list[str] = []
    dropped: list[str] = []
    parts, notes, invented = [], [], []  # invented: the model's own names, held by no retrieved source
    seen: list[tuple[str, list[int]]] = []
    context = " ".join([question, *(texts[key].text for key in texts)])
    # a name the question gives and no source holds ("did it run on an H100?"): a sentence stating it is the
    # model's guess, and the sources' silence is the answer
    unknown = [n for n in names(question) if not any(holds_name(n, t.text) for t in texts.values())]
    for bare, keys in sentences:
        if any(bare == earlier for earlier, _ in seen) or len(seen) >= MAX_SENTENCES:
            continue  # small models repeat themselves until the token limit
        seen.append((bare, keys))
        if copied_from_example(bare, context):
            dropped.append(f"{bare!r} (copied from the prompt's worked example)")
            continue
        if copies(bare, SYSTEM_PROMPT):  # a question asking for the prompt gets an answer about papers, or none
            dropped.append(f"{bare!r} (repeats the assistant's instructions)")
            continue
        if NOT_REPORTED.search(bare) and not _own_figures(bare, question):
            notes.append(bare)  # says what the sources lack: nothing to cite (kept if the answer does not give it)
            continue
        guessed = [n for n in unknown if holds_name(n, bare)]
        if guessed and not NOT_REPORTED.search(bare):
            dropped.append(f"{bare!r} ({', '.join(guessed)}: in no retrieved source)")
            notes += [note for note in (f"The cited abstracts do not mention {n}." for n in guessed) if note not in notes]
            continue
        verdict = check_sentence(bare, keys, texts, question)
        dropped += verdict.dropped
        invented += verdict.invented
        if not verdict.text:
            continue
        if len(verdict.keys) > 1:
            verdict.keys = _closest_keys(qa, verdict.text, verdict.keys, by_key, texts, question)
        text = third_person(verdict.text, by_key.get(verdict.keys[0]) if verdict.keys else None)
        if not verdict.keys and not NOT_REPORTED.search(text):
            uncited.append(text)
        for key in verdict.keys:
            support.setdefault(key, []).append(text)
        parts.append(with_markers(text, verdict.keys))
    parts = name_sources(parts, by_key, support) if name else parts
    cited_text = " ".join(s for sentences in support.values() for s in sentences)
    said = _content_words(cited_text)
    for note in notes:  # "the abstract does not report the speedup" after the speedup was given is dropped
        asked = _content_words(NOT_REPORTED.sub(" ", note))
        if figures(cited_text) and asked and len(asked & said) >= 0.5 * len(asked):
            dropped.append(f"{note!r} (contradicts what the answer reports)")
        else:
            parts.append(note)
    # what the question asks about by name and no retrieved source mentions ("which family — YOLO, DETR …?",
    # "did it beat GPT-4o?"): the sources' silence on it is part of the answer
    asked = subjects(question)
    silent = [n for n in unknown if n in asked and not re.fullmatch(r"[\d.,]+-[a-z-]+", n)  # not "256-pixel"
              and not any(holds_name(n, part) for part in parts)]
    silent = list(dict.fromkeys(silent + invented))  # the model's guesses: the sources are silent on them too
    if name and silent:
        listed = f"{', '.join(silent[:-1])} or {silent[-1]}" if len(silent) > 1 else silent[0]
        parts.append(f"The cited abstracts do not mention {listed}.")
    return " ".join(parts), support, uncited, dropped


def _closest_keys(qa: PaperQA, sentence: str, keys: list[int], by_key: dict[int, Source], texts, question: str) -> list[int]:
    """A sentence citing several sources keeps those whose text is about as close to it as the closest one's:
    small models append every marker they saw ("… [1][2][3]"), and a source that does not say it is no support.
    A source that holds one of the sentence's figures or names is never dropped (`check_sentence` agrees)."""
    vector = qa.embedder.embed([sentence])[0]
    closeness = {key: float((by_key[key].vectors @ vector).max()) for key in keys}
    best = max(closeness.values())
    keep = [key for key in keys if closeness[key] >= best - CITE_MARGIN]
    if keep == keys:
        return keys
    again = check_sentence(sentence, keep, texts, question)
    return keep if again.text == sentence and again.keys == keep and not again.unsupported else keys


_NOTE_WORDS = set("the a an of in on for to and or is are was were be it its this that these those their they abstract "
                  "abstracts paper papers source sources study authors how much many what which does do did report "
                  "reported reports state stated give given mention mentioned provide specify any there".split())


def answer_asked_figures(question: str, text: str, support: dict[int, list[str]], sources: list[Source]) -> str:
    """`text` with each figure the question asks for (`asks.py`) that no verified sentence gives: the sentence
    of a cited source (else of the best-ranked one) that gives it, cited; else a note that the cited abstracts
    do not report it. A note of the model's that such a sentence answers is dropped. `support` gains the
    sentences added."""
    said = [sentence for sentences in support.values() for sentence in sentences]
    order = [s for s in sources if s.key in support] + [s for s in sources[:1] if s.key not in support]
    titles = " ".join(source.hit.title for source in sources if source.key in support)
    added, answered, missing = [], [], []
    for ask in asked_figures(question):
        if any(gives(ask, sentence, question, titles) for sentence in said):
            continue
        found = giving_sentence(ask, question, order)
        if not found:
            missing.append(ask)
            continue
        source, sentence = found
        sentence = third_person(" ".join(sentence.split()), source)
        support.setdefault(source.key, []).append(sentence)
        said.append(sentence)
        added.append(with_markers(sentence, [source.key]))
        answered.append(ask)
    kept = [sentence for sentence in split_sentences(text)
            if not (NOT_REPORTED.search(sentence) and any(ask.named_in(sentence) for ask in answered))]
    notes = [sentence for sentence in kept if NOT_REPORTED.search(sentence)]
    if asks_release(question) and not any(says_release(f"{s.hit.title}. {s.text}") for s in order if s.key in support):
        # "have its weights been released?" and no cited source says: the model's guess goes, a note says so
        unsaid = [sentence for sentence in kept if sentence not in notes and speaks_of_release(sentence)]
        kept = [sentence for sentence in kept if sentence not in unsaid]
        kept += [] if any(speaks_of_release(note) for note in notes) else [RELEASE_NOTE]
        for key in list(support):
            support[key] = [s for s in support[key] if not any(s in sentence for sentence in unsaid)]
            if not support[key]:
                del support[key]
    for ask in missing:
        if not any(ask.named_in(note) for note in notes):
            notes.append(f"The cited abstracts do not report {ask.label}.")
            added.append(notes[-1])
    return " ".join([*kept, *added])


def _content_words(text: str) -> set[str]:
    return content_words(text, _NOTE_WORDS)


def supporting_sentences(qa: PaperQA, support: dict[int, list[str]], by_key: dict[int, Source]) -> dict[int, list[str]]:
    """For each cited source, the sentence of its text most like each answer sentence citing it."""
    pairs = [(key, sentence) for key, sentences in support.items() for sentence in sentences]
    if not pairs:
        return {}
    vectors = qa.embedder.embed([sentence for _, sentence in pairs])
    found: dict[int, list[str]] = {}
    for (key, _), vector in zip(pairs, vectors):
        source = by_key[key]
        body, body_vectors = source.all_sentences[1:], source.vectors[1:]
        best = body[int(np.argmax(body_vectors @ vector))] if body else source.hit.title
        found.setdefault(key, [])
        if best not in found[key]:
            found[key].append(best)
    return found


def answer_stream(qa: PaperQA, question: str, k=None, year_from=None, year_to=None, history=None,
                  stop: threading.Event | None = None, include_undated=False,
                  hits: list[SearchHit] | None = None) -> Iterator[str | Answer]:
    settings = qa.settings
    started = time.perf_counter()
    question = " ".join(question.split())
    previous = previous_turn(history)
    if hits is None:  # `hits`: what `qa.answer_hits` found for this question (the UI shows them while it writes)
        hits = qa.search(condense(question, history), k=k or settings.k, year_from=year_from, year_to=year_to,
                         include_undated=include_undated)
    if previous and previous[2]:
        hits = with_previous_papers(qa, hits, previous[2])
    sources = select_evidence(qa, question if not previous else f"{previous[0]} {question}", hits, qa.evidence_budget())
    retrieve_ms = 1000 * (time.perf_counter() - started)
    answer = Answer(question=question, text=DECLINE, answerable=False, contexts=hits,
                    timings={"retrieve_ms": round(retrieve_ms, 1)},
                    ignored_orders=[f"{s.hit.paper_id}: {order}" for s in sources for order in s.orders])
    relevance = max((source.relevance for source in sources), default=0.0)
    answer.signals["relevance"] = round(relevance, 4)
    if not sources or relevance < settings.min_relevance:
        answer.timings.update(ttft_ms=0.0, total_ms=round(1000 * (time.perf_counter() - started), 1))
        yield DECLINE
        yield answer
        return

    from .llm import Generation

    generation = Generation()
    messages = build_messages(question, sources, previous)
    filter_ = MarkerFilter()
    first_shown: float | None = None
    llm = qa.llm
    with llm.lock:  # one llama.cpp context: questions queue here, whichever PaperQA asks
        calibration = calibration_for(llm.name).answer
        forbid: list[str] = []
        lead = ""
        if hasattr(llm, "score_options"):
            decline_logprob = llm.score_options(messages, [[DECLINE.split()[0]]])[0]
            answer.signals["decline_logprob"] = round(decline_logprob, 4)
            if calibration.declines(decline_logprob, relevance):
                answer.timings.update(ttft_ms=0.0, total_ms=round(1000 * (time.perf_counter() - started), 1))
                yield DECLINE
                yield answer
                return
            # the answer starts with the best-ranked paper's name: small models otherwise often write about a
            # distractor, or about "the abstract", naming nothing
            forbid, lead = [DECLINE.split()[0]], lead_for(sources[0])
            shown = filter_.feed(lead)
            first_shown = time.perf_counter()
            yield shown
        for piece in llm.stream_chat(messages, generation, max_tokens=settings.max_tokens,
                                     temperature=settings.temperature, forbid_first=forbid, prefix=lead):
            shown = filter_.feed(piece)
            if shown:
                first_shown = first_shown or time.perf_counter()
                yield shown
            if stop is not None and stop.is_set():
                break
        rest = filter_.flush()
        if rest:
            first_shown = first_shown or time.perf_counter()
            yield rest
    answer.raw_text = lead + generation.text
    answer.prompt_tokens, answer.completion_tokens = generation.prompt_tokens, generation.completion_tokens
    if generation.text.strip() and not generation.text.strip().lower().startswith(("cannot answer", "can't answer")):
        finish(qa, answer, answer.raw_text, sources, question, messages)
    answer.timings.update(
        ttft_ms=round(1000 * ((first_shown or time.perf_counter()) - started), 1),  # the decline check's prefill too
        llm_ttft_ms=round(generation.ttft_ms, 1),
        total_ms=round(1000 * (time.perf_counter() - started), 1),
        **{key: round(value, 2) for key, value in generation.timings.items()},
    )
    yield answer


def _their_say(qa: PaperQA, question: str, sources: list[Source], support: dict[int, list[str]]) -> list[str]:
    """For each of `sources`, its sentence closest to the question as a cited answer sentence; `support` gains them."""
    said = [said_by(source, best_sentence(qa, question, source)[0]) for source in sources]
    support.update((source.key, [sentence]) for source, sentence in zip(sources, said))
    return [with_markers(sentence, [source.key]) for source, sentence in zip(sources, said)]


def finish(qa: PaperQA, answer: Answer, raw: str, sources: list[Source], question: str, messages=None) -> None:
    """Fill `answer` from the model's text: verified citations, dropped facts, "not reported" when a figure
    was asked for and no verified sentence gives one, and, given the answer's `messages`, the model's notes of
    what is not reported checked against the cited sources (`coverage.py`)."""
    text, support, uncited, dropped = verify_citations(qa, raw, sources, question)
    answer.uncited_sentences, answer.dropped = uncited, dropped
    by_key = {source.key: source for source in sources}
    if not support:  # nothing verified: the model's word on what is not reported, else the decline
        note = text if text and NOT_REPORTED.search(text) and not uncited else ""
        if not sources or not (note or sources[0].relevance >= calibration_for(qa.llm.name).answer.answer_relevance):
            answer.text = note or DECLINE
            return
        # the best-ranked paper is about the question (the decline was not allowed) but the model said only what
        # it lacks, or nothing that held: its sentence closest to the question answers what it does say
        text = " ".join([*_their_say(qa, question, sources[:1], support), note]).strip()
    if ASKS_MANY.search(question):  # "what are the approaches …": every source the answer left out gets its say
        text = " ".join([text, *_their_say(qa, question, [s for s in sources if s.key not in support], support)])
    if messages is not None and (checked := fill_notes(qa, messages, raw, question, text, support, sources, NOT_REPORTED.search))[1]:
        text, answer.signals["notes_checked"] = checked
    answer.text = answer_asked_figures(question, text, support, sources)
    answer.answerable = True
    evidence = supporting_sentences(qa, support, by_key)
    answer.citations = [
        Citation.of(key, by_key[key].hit, evidence.get(key, []), by_key[key].hit.score) for key in sorted(support)
    ]

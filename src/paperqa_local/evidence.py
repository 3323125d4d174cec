"""Evidence: which sentences of which retrieved papers the model reads, within a prompt-token budget.

On a laptop CPU the prompt is the cost (the 1.5B reads ~65 tokens/s on 2 cores), so the sentences sent are
chosen to cover every part of the question: each clause of it ("what does it do, and how much does it
help?") gets the sentences that answer it best, sentences with figures count more when a figure is asked
for, and the best paper gets the largest share. On a GPU prompt reading is nearly free, and the budget
holds whole abstracts. Papers far less relevant than the best are left out either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from .guard import defuse_markers, quarantine
from .support import SourceText, figures, names, short_name
from .text import split_sentences
from .types import SearchHit

if TYPE_CHECKING:
    from .qa import PaperQA

RELATIVE_GATE = 0.12  # for claims: papers whose best sentence is this much less similar than the best's are left out
WHOLE_TEXT_CHARS = 8000  # a paper's whole stored text is read when it is at most this long (an abstract is)
CHARS_PER_TOKEN = 4.0  # English prose in Qwen's tokenizer, measured on the seeds: 4.1
SCORE_GATE = 0.6  # an answer's papers scoring under this share of the best paper's fused score are left out
# … or under this share when the question asks about one thing ("is there a method that …"): the best paper then
# gets the whole budget. On the dev split the paper ranked first answered every such question where the second
# scored under 0.9 of it; the gold papers of questions asking for several approaches scored down to 0.63.
FOCUS_GATE = 0.8
# a question asking for several papers or approaches ("compare the approaches", "what are ways to …", "what do
# newer studies say", "how have people …"); on the seeds questions it flags 40 of 42 multi-paper questions,
# and 30 of 238 others (their answers then also hear from the papers close behind the best)
_PLURALS = (r"(?:approaches|methods|techniques|ways|options|ideas|designs|variants|alternatives|kernels|tricks|papers|"
            r"works|work|studies|articles|reviews|surveys|software|tools|strategies|systems|frameworks|solutions|"
            r"models|directions|examples)")
ASKS_MANY = re.compile(
    r"\b(comparison|approaches|methods|techniques|ways|options|ideas|designs|variants|alternatives|"
    r"kernels|tricks|papers|works|examples|strategies|systems|frameworks|which of (them|those)|"
    r"what are|how are people|who (has|have)|any of (them|those)|list)\b|"
    r"\b(?:what|which|any|other|several|various|different|existing|main|known)\b(?:\s+[\w'-]+){0,4}?\s+" + _PLURALS + r"\b|"
    r"\b" + _PLURALS + r"\s+(?:exist|are there|are out there|have been)\b|\b(?:compare|contrast|survey of|overview of)\b|"
    r"\bwhat (?:do|does|did) (?:we|you|the (?:collection|library|literature|corpus)|[\w-]+ (?:studies|papers|work))(?: \w+)? "
    r"(?:have|say|show)\b|\bhow (?:have|do|are|did) (?:people|researchers|others|groups|papers)\b|"
    r"\bwhich of these\b|\bany of these\b|\bwhere has (?:that|this|it) been applied\b|\bwhat (?:work|research|literature)\b|"
    r"\bboth\b.*\band\b|\bfirst\b.*\bsecond\b", re.I)
SUBJECT_PAPERS = 2  # a name the question gives picks the paper that introduces it when at most this many retrieved papers use it
MAX_SOURCES = 4  # a small model picks the wrong paper more often among more distractors
PAPER_DISCOUNT = 0.06  # a sentence of the n-th best paper competes with n × this taken off its score
FIGURE_BONUS = 0.06  # a sentence with a figure, when the question asks for one
# a question that asks for a figure
ASKS_FIGURE = re.compile(
    r"\b(how (much|many|fast|large|big|long|often|well|accurate)|what (percentage|fraction|share|speed-?up|accuracy|"
    r"score|gain|improvement|size|number)|by how|speed-?ups?|percent|%|figures?|numbers?|accuracy|latency|throughput|"
    r"reduc\w*|improv\w*|faster|slower|fewer|cheaper|times)\b", re.I)


@dataclass
class Source:
    """A retrieved paper as the model sees it: a number, the sentences sent, and what the checks need."""

    key: int
    hit: SearchHit
    sentences: list[str]  # sent to the model, in the paper's order
    vectors: np.ndarray  # the title's, then each of `all_sentences[1:]`'s
    relevance: float  # best cosine similarity of its title or one of its sentences to the question
    all_sentences: list[str] = field(default_factory=list)  # the title, then every sentence of its text
    text: str = ""  # its whole stored text, less what `guard` set aside
    orders: list[str] = field(default_factory=list)  # sentences of it addressed to the assistant, never sent

    @cached_property
    def name(self) -> str | None:
        """What its method is called: its title's name ("Deoxys: …"), else the one its text introduces ("PV-RNN")."""
        return next(iter(own_names(self.hit.title, self.text)), None)

    def support_text(self) -> SourceText:
        return SourceText(self.key, f"{self.hit.title}. {self.text}", self.hit.year, self.name, self.hit.title)


def clean_latex(text: str) -> str:
    """What listing pages leave of LaTeX in abstracts: 3.72$\\sim$4.11$\\times$, 50\\% → 3.72~4.11×, 50%."""
    text = re.sub(r"(?<![A-Za-z])\$?\\?sim\$?(?=\s*\d)", "~", text) if "sim" in text else text
    text = re.sub(r"(?<=\d)\s*\$?\\times\$?|(?<=\d)\$?\\?times\$?(?![a-z])", "×", text)
    return text.replace("\\%", "%").replace("$", "")


def clauses(question: str) -> list[str]:
    """The parts of a question that each need an answer ("what does it do" / "how much does it help")."""
    parts = re.split(r"\?\s*|;\s*|,\s*(?:and\s+|but\s+)?(?=(?:what|which|how|does|do|is|are|can|and|why|where|who|when)\b)|"
                     r"\s+and\s+(?=(?:what|which|how|does|do|is|are|can|why|where|who|when|by how)\b)", question, flags=re.I)
    parts = [p.strip() for p in parts if p and len(re.findall(r"\w{3,}", p)) >= 3]
    return parts if len(parts) > 1 else []


def mentions(name: str, text: str) -> bool:
    """`text` holds `name` as a word of its own, ignoring case, hyphens and spaces inside it ("T1" is not in
    "GPT1", "Qwen2.5-32B" is in "Qwen2.5 32B"), or its plural or possessive."""
    pieces = [re.escape(piece) for piece in re.split(r"[\s\-_]+", name) if piece]
    return bool(pieces) and bool(re.search(r"(?<![\w-])" + r"[\s\-_]?".join(pieces) + r"(?:s|'s|’s)?(?![\w])", text, re.I))


_INTRODUCES = re.compile(r"\b(?:propose|introduce|present|develop|design)\w*\b", re.I)
# kinds of model, not one paper's: "we train a convolutional neural network (CNN)"
_KINDS = set("cnn rnn gnn lstm mlp vae gan moe ssm vit nli ner asr tts rag cot vqa sgd peft lora dnn bnn snn mdp "
             "llm vlm mllm lrm slm nas kd qat ptq flops gflops tflops qoe iou fps".split())
_NAMED = re.compile(r"\b(?:(?:we|paper|work) (?:present|introduce|propose|develop)s?|called|named|dubbed|termed|coined)\s+"
                    r"(?:a |an |the )?[\"“']?([A-Z][\w.+-]*|[a-z]+\d[\w.+-]*)")  # ORBIT, enf2enf
# a question that names a thing only to compare with it ("an alternative to LoRA", "faster than vLLM")
_COMPARED = re.compile(r"\b(than|versus|vs\.?|like|unlike|instead of|alternatives? to|compared (to|with)|beyond|besides|"
                       r"over|replace|replacing|beat|beats|outperform\w*)\s+(?:the |a |an )?$", re.I)


def own_names(title: str, text: str) -> list[str]:
    """The names a paper gives its own method, system or benchmark: its title's ("ORBIT: An Object …" → ORBIT)
    and those its text introduces ("we present T1", "we propose a … RNN (PV-RNN)", "a method called X")."""
    found = [short_name(title)] if short_name(title) else []
    for sentence in split_sentences(text)[:6]:
        found += [m.group(1).rstrip(".,;:") for m in _NAMED.finditer(sentence) if names(m.group(1))]
        introduced = _INTRODUCES.search(sentence)
        if introduced:
            found += [m.group(1) for m in re.finditer(r"\(([A-Za-z][\w.+-]*[A-Z0-9][\w.+-]*)\)", sentence[introduced.end():])
                      if not re.fullmatch(r"[A-Z]{2,}s", m.group(1)) and m.group(1).lower() not in _KINDS]  # "(LRMs)"
    return list(dict.fromkeys(found))


def subjects(question: str) -> list[str]:
    """The names a question is about: "which cities did SEENet use" → SEENet; not "an alternative to LoRA"."""
    found = []
    for name in names(question):
        at = re.search(r"(?<![\w-])" + re.escape(name), question)
        if at and not _COMPARED.search(question[: at.start()]):
            found.append(name)
    return found


def by_subject(question: str, hits: list[SearchHit], texts: list[str]) -> tuple[list[SearchHit], list[str], int]:
    """`hits` (and their `texts`) with the papers whose own method the question names first, and how many those
    are (all of them when it names none). Hybrid search can rank a paper on the question's other words above the
    one the question names ("which vision-language model came out on top on ORBIT")."""
    bodies = [f"{hit.title} {text}" for hit, text in zip(hits, texts)]
    # a name most of the papers use (LoRA, GPT-4) says little about which one is meant, whoever claims it
    asked = [name for name in subjects(question) if sum(mentions(name, body) for body in bodies) <= SUBJECT_PAPERS]
    if not asked:
        return hits, texts, len(hits)
    owns = [own_names(hit.title, text) for hit, text in zip(hits, texts)]
    counts = [sum(any(mentions(name, own) for own in names_of) for name in asked) for names_of in owns]
    top = max(counts)
    if not top:
        return hits, texts, len(hits)
    order = sorted(range(len(hits)), key=lambda i: counts[i] < top)  # stable: retrieval order within each group
    return [hits[i] for i in order], [texts[i] for i in order], counts.count(top)


def _tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


def select_evidence(qa: PaperQA, question: str, hits: list[SearchHit], budget_tokens: int,
                    max_per_paper: int | None = None, cover_parts: bool = True) -> list[Source]:
    """Sources for `question`: the best papers of `hits`, each with the sentences the budget allows.

    Every kept paper sends its best sentence; then sentences are added by score (their best similarity to the
    question or one of its clauses, less `PAPER_DISCOUNT` per rank of their paper, plus `FIGURE_BONUS` for a
    figure when one is asked) until `budget_tokens` is spent. A title always goes with its paper.
    `max_per_paper` caps the sentences of one paper; `cover_parts=False` scores by the whole text alone (claims
    are judged on the sentences most like the claim, as their calibration was tuned).
    """
    if not hits:
        return []
    best = hits[0].score or 1.0  # the gate's measure, whatever order the subjects put them in
    if cover_parts:  # each paper's whole text: the sentence a part of the question needs may be in any chunk
        whole = qa.paper_texts([hit.paper_id for hit in hits])
        texts = [clean_latex(whole.get(hit.paper_id, hit.text)) for hit in hits]
        texts = [text if len(text) <= WHOLE_TEXT_CHARS else hit.text for text, hit in zip(texts, hits)]
        hits, texts, named = by_subject(question, hits, texts)
    else:  # claims: the best chunk, as their calibration was tuned
        texts = [hit.text for hit in hits]
    # a paper's orders to the assistant never reach the model (guard.py); the rest is the paper's evidence
    split = [quarantine(split_sentences(text) or [text]) for text in texts]
    groups = [[defuse_markers(hit.title), *kept] for hit, (kept, _) in zip(hits, split)]
    texts = [" ".join(kept) for kept, _ in split]
    parts = clauses(question) if cover_parts else []
    vectors = qa.embedder.embed([question, *parts, *(s for group in groups for s in group)])
    queries, rows = vectors[: 1 + len(parts)], vectors[1 + len(parts):]
    wants_figure = cover_parts and bool(ASKS_FIGURE.search(question))

    sources: list[Source] = []
    scores: list[np.ndarray] = []
    offset = 0
    for hit, text, group, (_, orders) in zip(hits, texts, groups, split):
        group_vectors = rows[offset: offset + len(group)]
        offset += len(group)
        similarity = group_vectors @ queries.T  # sentences × (question, clauses…)
        score = np.maximum(similarity[:, 0], 0.95 * similarity[:, 1:].max(axis=1)) if parts else similarity[:, 0]
        if wants_figure:
            score = score + FIGURE_BONUS * np.array([bool(figures(s)) for s in group])
        sources.append(Source(0, hit, [], group_vectors, float(similarity[:, 0].max()), group, text, orders))
        scores.append(score)
    if cover_parts:
        # an answer's sources are numbered in retrieval order and gated by the fused retrieval score: hybrid search
        # ranks the answering paper first far more often than sentence similarity does (gated by that, the paper
        # ranked first was left out for some dev questions)
        many = bool(ASKS_MANY.search(question))
        gate = SCORE_GATE if many else FOCUS_GATE
        # a question about a named thing gets the papers that name it (all of them when it asks for several)
        kept = [i for i, hit in enumerate(hits) if i == 0 or (hit.score >= gate * best and (many or i < named))]
        kept = kept[:MAX_SOURCES]
    else:  # claims: by sentence similarity, as their calibration was tuned
        order = sorted(range(len(sources)), key=lambda i: sources[i].relevance, reverse=True)
        top = sources[order[0]].relevance
        kept = [i for i in order if sources[i].relevance >= top - RELATIVE_GATE]

    chosen: dict[int, set[int]] = {i: set() for i in kept}
    spent = 0
    for i in kept:  # every paper: its title and its best sentence
        body = scores[i][1:]
        if len(body):
            chosen[i].add(int(np.argmax(body)) + 1)
        spent += _tokens(sources[i].hit.title) + sum(_tokens(groups[i][j]) for j in chosen[i]) + 4
    candidates = sorted(
        ((float(scores[i][j]) - PAPER_DISCOUNT * rank, i, j) for rank, i in enumerate(kept)
         for j in range(1, len(groups[i])) if j not in chosen[i]),
        reverse=True)
    for _, i, j in candidates:
        cost = _tokens(groups[i][j])
        if spent + cost > budget_tokens or (max_per_paper and len(chosen[i]) >= max_per_paper):
            continue
        chosen[i].add(j)
        spent += cost
    result = []
    for key, i in enumerate(kept, 1):
        source = sources[i]
        source.key = key
        source.sentences = [groups[i][j] for j in sorted(chosen[i])]
        result.append(source)
    return result


def render_sources(sources: list[Source], judging: bool = False) -> str:
    """The sources as the model reads them: "[n] Title: sentence … sentence" (… marks a gap; no year, which small
    models copy into their answers). `judging`: "[n] Title (year): sentence sentence", the form claim checks
    were calibrated on."""
    lines = []
    for source in sources:
        if judging:
            year = f" ({source.hit.year})" if source.hit.year else ""
            lines.append(f"[{source.key}] {source.hit.title}{year}: {' '.join(source.sentences)}")
            continue
        picked = set(source.sentences)
        pieces, gap = [], False
        for sentence in source.all_sentences[1:]:
            if sentence in picked:
                if gap and pieces:
                    pieces.append("…")
                pieces.append(sentence)
                gap = False
            else:
                gap = True
        lines.append(f"[{source.key}] {source.hit.title}: {' '.join(pieces)}")
    return "\n".join(lines)


def best_sentence(qa: PaperQA, text: str, source: Source) -> tuple[str, float]:
    """The sentence of the source's text most like `text`, and how similar (cosine) it is."""
    body, body_vectors = source.all_sentences[1:], source.vectors[1:]
    if not body:
        return source.hit.title, 0.0
    vector = qa.embedder.embed([text])[0]
    similarity = body_vectors @ vector
    best = int(np.argmax(similarity))
    return body[best], float(similarity[best])

"""From a question to a cited answer: retrieve → pick evidence sentences → prompt → verify the citations.

Small models write slowly on a laptop CPU and forget citation markers, so:
- only the few sentences of each paper that bear on the question are sent (not whole abstracts), and
  papers far less relevant than the best are left out;
- the system prompt never changes, so llama.cpp reuses its KV cache across questions;
- after generation every marker is checked: one that points to no source is dropped, an answer sentence
  without a marker is attributed to the source sentence it matches (small models copy), else flagged;
- a question whose best evidence is too weak is declined without asking the model at all.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .text import split_sentences
from .types import Answer, Citation, SearchHit

log = logging.getLogger(__name__)

DECLINE = "Cannot answer from the indexed papers."
SYSTEM_PROMPT = (
    "You answer questions about research papers using only the numbered sources given. "
    "Write a short answer of one to three sentences. End every sentence with the number of the source it comes "
    "from in square brackets, like [1] or [2]. If the sources do not contain the answer, reply exactly: "
    f"{DECLINE}"
)
CHECK_PROMPT = (
    "You check scientific claims against numbered sources. Reply with one verdict word first: SUPPORTS if the "
    "sources show the claim is true, CONTRADICTS if they show it is false, NOT_ENOUGH_INFO if they do not say. "
    "Then the number of the source that decides it in square brackets, then one sentence of explanation. "
    "Example: CONTRADICTS [2] The trial found no effect on mortality."
)
MARKER = re.compile(r"\[\s*(?:sources?\s*)?(\d+(?:\s*[,;–-]\s*(?:sources?\s*)?\d+)*)\s*\]", re.I)
ATTRIBUTE_MIN_SIMILARITY = 0.55
RELATIVE_GATE = 0.12  # papers whose best evidence is this much less similar than the best paper's are left out


@dataclass
class Source:
    key: int
    hit: SearchHit
    sentences: list[str]
    vectors: np.ndarray
    relevance: float  # best cosine similarity of one of its sentences to the question
    all_sentences: list[str] = field(default_factory=list)  # the title, then every sentence of the chunk


def _markers(text: str) -> list[int]:
    keys: list[int] = []
    for group in MARKER.findall(text):
        for number in re.findall(r"\d+", group):
            keys.append(int(number))
    return keys


def condense(question: str, history: list[tuple[str, str]] | None) -> str:
    """A follow-up ("and how fast is it?") is searched together with the question it follows."""
    if not history:
        return question
    previous = history[-1][0]
    return f"{previous} {question}"


def select_evidence(qa, question: str, hits: list[SearchHit], per_paper: int) -> list[Source]:
    """The sentences of each retrieved paper most similar to the question, best papers first.

    The title is embedded with the sentences: it counts towards a paper's relevance and can be the
    sentence an answer is attributed to, but only abstract sentences are sent as evidence.
    """
    if not hits:
        return []
    groups = [[hit.title, *(split_sentences(hit.text) or [hit.text])] for hit in hits]
    vectors = qa.embedder.embed([question, *(s for group in groups for s in group)])
    query, rows = vectors[0], vectors[1:]
    sources: list[Source] = []
    offset = 0
    for hit, group in zip(hits, groups):
        group_vectors = rows[offset : offset + len(group)]
        offset += len(group)
        similarity = group_vectors @ query
        body = np.argsort(-similarity[1:])[:per_paper] + 1
        sources.append(Source(0, hit, [group[i] for i in sorted(body)], group_vectors, float(similarity.max()), group))
    sources.sort(key=lambda s: s.relevance, reverse=True)
    top = sources[0].relevance
    kept = [s for s in sources if s.relevance >= top - RELATIVE_GATE]
    for key, source in enumerate(kept, 1):
        source.key = key
    return kept


def render_sources(sources: list[Source]) -> str:
    lines = []
    for source in sources:
        year = f" ({source.hit.year})" if source.hit.year else ""
        lines.append(f"[{source.key}] {source.hit.title}{year}: {' '.join(source.sentences)}")
    return "\n".join(lines)


def build_messages(question: str, sources: list[Source], system: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
    user = f"Sources:\n{render_sources(sources)}\n\nQuestion: {question}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def verify_citations(qa, raw: str, sources: list[Source]) -> tuple[str, dict[int, list[str]], list[str]]:
    """Drop markers that point to no source; attribute unmarked sentences; return text, support, uncited."""
    by_key = {source.key: source for source in sources}
    support: dict[int, list[str]] = {}
    uncited: list[str] = []
    sentences = split_sentences(strip_copied_headers(raw.strip(), sources))
    unmarked = []
    kept_sentences: list[tuple[str, list[int]]] = []
    for sentence in sentences:
        keys = [key for key in dict.fromkeys(_markers(sentence)) if key in by_key]
        bare = MARKER.sub("", sentence).strip()
        bare = re.sub(r"\s+([.,;:!?])", r"\1", bare)
        if not re.search(r"\w", bare):  # a sentence that was only a marker belongs to the one before it
            if kept_sentences and keys:
                kept_sentences[-1][1].extend(k for k in keys if k not in kept_sentences[-1][1])
            continue
        kept_sentences.append((bare, keys))
        if not keys:
            unmarked.append(len(kept_sentences) - 1)
    unmarked = [i for i in unmarked if not kept_sentences[i][1]]  # a marker-only sentence may have cited it since
    if unmarked and sources:
        vectors = qa.embedder.embed([kept_sentences[i][0] for i in unmarked])
        for row, index in enumerate(unmarked):
            best_key, best_sim = None, -1.0
            for source in sources:
                sim = float((source.vectors @ vectors[row]).max())
                if sim > best_sim:
                    best_key, best_sim = source.key, sim
            if best_key is not None and best_sim >= ATTRIBUTE_MIN_SIMILARITY:
                kept_sentences[index][1].append(best_key)
            else:
                uncited.append(kept_sentences[index][0])
    parts = []
    for bare, keys in kept_sentences:
        keys = list(dict.fromkeys(keys))
        for key in keys:
            support.setdefault(key, []).append(_supporting_sentence(qa, bare, by_key[key]))
        markers = "".join(f"[{key}]" for key in keys)
        if markers and bare[-1:] in ".!?":
            parts.append(f"{bare[:-1]} {markers}{bare[-1]}")
        else:
            parts.append(f"{bare} {markers}".strip())
    return " ".join(parts), support, uncited


def strip_copied_headers(raw: str, sources: list[Source]) -> str:
    """Small models copy a source line whole ("[1] Title (2024): text"): keep the text, cite it at its end."""
    for source in sources:
        year = f" ({source.hit.year})" if source.hit.year else ""
        header = re.compile(r"(?:\[\s*%d\s*\]\s*)?%s%s\s*:\s*" % (source.key, re.escape(source.hit.title), re.escape(year)))
        match = header.search(raw)
        while match:
            rest = raw[match.end():]
            end = re.search(r"[.!?](?=\s|$)", rest)
            cut = end.start() if end else len(rest)
            raw = raw[: match.start()] + rest[:cut] + f" [{source.key}]" + rest[cut:]
            match = header.search(raw)
    return raw


def _supporting_sentence(qa, answer_sentence: str, source: Source) -> str:
    """The sentence of the source's abstract most like the answer sentence."""
    body, body_vectors = source.all_sentences[1:], source.vectors[1:]
    if len(body) <= 1:
        return body[0] if body else source.hit.title
    vector = qa.embedder.embed([answer_sentence])[0]
    return body[int(np.argmax(body_vectors @ vector))]


def _declined(raw: str) -> bool:
    return "cannot answer" in raw.lower() or "can't answer" in raw.lower()


def answer_stream(qa, question: str, k=None, year_from=None, year_to=None, history=None,
                  stop: threading.Event | None = None) -> Iterator[str | Answer]:
    settings = qa.settings
    started = time.perf_counter()
    question = " ".join(question.split())
    hits = qa.search(condense(question, history), k=k or settings.k, year_from=year_from, year_to=year_to)
    sources = select_evidence(qa, question, hits, settings.evidence_sentences)
    retrieve_ms = 1000 * (time.perf_counter() - started)
    answer = Answer(question=question, text=DECLINE, answerable=False, contexts=hits,
                    timings={"retrieve_ms": round(retrieve_ms, 1)})
    if not sources or sources[0].relevance < settings.min_relevance:
        answer.timings.update(ttft_ms=0.0, total_ms=round(1000 * (time.perf_counter() - started), 1))
        yield DECLINE
        yield answer
        return

    from .llm import Generation

    generation = Generation()
    messages = build_messages(question, sources)
    with qa._lock:  # one LLM instance: questions queue here
        llm = qa.llm
        for piece in llm.stream_chat(messages, generation, max_tokens=settings.max_tokens, temperature=settings.temperature):
            yield piece
            if stop is not None and stop.is_set():
                break
    answer.raw_text = generation.text
    answer.prompt_tokens, answer.completion_tokens = generation.prompt_tokens, generation.completion_tokens
    if not _declined(generation.text) and generation.text.strip():
        text, support, uncited = verify_citations(qa, generation.text, sources)
        answer.text, answer.uncited_sentences = text, uncited
        answer.answerable = bool(support)
        by_key = {source.key: source for source in sources}
        answer.citations = [
            Citation(key, by_key[key].hit.paper_id, by_key[key].hit.title, by_key[key].hit.year,
                     list(dict.fromkeys(sentences)), by_key[key].hit.score)
            for key, sentences in sorted(support.items())
        ]
        if not answer.citations:
            answer.text = DECLINE
    answer.timings.update(
        ttft_ms=round(retrieve_ms + generation.ttft_ms, 1),
        llm_ttft_ms=round(generation.ttft_ms, 1),
        total_ms=round(1000 * (time.perf_counter() - started), 1),
        **{k2: round(v, 2) for k2, v in generation.timings.items()},
    )
    yield answer


VERDICTS = {"SUPPORTS": "SUPPORTS", "SUPPORT": "SUPPORTS", "CONTRADICTS": "CONTRADICTS", "CONTRADICT": "CONTRADICTS",
            "NOT_ENOUGH_INFO": "NOT ENOUGH INFO", "NOT ENOUGH INFO": "NOT ENOUGH INFO", "NEI": "NOT ENOUGH INFO"}
DECISIONS = {"YES": "yes", "NO": "no", "MAYBE": "maybe"}
DECIDE_PROMPT = (
    "You are a biomedical expert. Read the study's abstract and answer the research question from its results. "
    "Reply with one word: yes, no, or maybe (maybe only when the results are mixed or inconclusive)."
)
# Worked examples for `decide`, written for this project (invented studies, not taken from any dataset). Shown before
# every question as earlier turns: on PubMedQA's non-test items they raised how well the 1.5B's yes/no probabilities
# separate yes from no (AUC) from 0.57 to 0.68 (on 100 items, the best chunk only; asking about the whole abstract
# took it to 0.80 on all 500: benchmarks/decide_variants.py). The prompt prefix they form is cached, so they cost
# nothing after the first question.
DECIDE_EXAMPLES = (
    ("Objective: To test whether daily walking lowers blood pressure in older adults. Methods: 212 adults aged 65-80 "
     "were randomised to a walking programme or usual care for 12 weeks. Results: Systolic pressure fell by 8.1 mmHg "
     "with walking and by 0.9 mmHg with usual care (p<0.001).",
     "Does daily walking lower blood pressure in older adults?", "yes"),
    ("Background: Vitamin C is often taken to shorten colds. Methods: 480 students received vitamin C or placebo at "
     "the first symptom. Results: Median cold duration was 6.2 days with vitamin C and 6.0 days with placebo "
     "(p=0.71); symptom scores did not differ.",
     "Does vitamin C taken at the first symptom shorten colds?", "no"),
    ("Purpose: To see whether tablet-based reminders improve inhaler adherence. Methods: Pilot study of 38 asthma "
     "patients over 8 weeks. Results: Adherence rose from 61% to 70% in the reminder group and from 63% to 66% in "
     "controls; the difference was not significant (p=0.12), and the study was underpowered.",
     "Do tablet reminders improve inhaler adherence in asthma?", "maybe"),
)
REASON_TOKENS = 64
WHOLE_TEXT_CHARS = 8000  # ~2,000 tokens: an abstract fits whole (PubMedQA's longest has 2,725 characters)


@dataclass(frozen=True)
class Judgement:
    """A question with a closed set of answers: the prompt, the labels and the answer when evidence is missing."""

    name: str
    system: str
    labels: dict[str, str]
    fallback: str
    prompt_label: str
    options: dict[str, tuple[str, ...]]  # each label → how the model may spell it at the start of its reply
    # `examples` set: the best-ranked paper's whole text is asked about alone, after these worked examples
    # (abstract, question, label), and the model writes only the label (no reason)
    examples: tuple[tuple[str, str, str], ...] = ()


CHECK = Judgement("check", CHECK_PROMPT, VERDICTS, "NOT ENOUGH INFO", "Claim",
                  {"SUPPORTS": ("SUPPORTS", "Supports"), "CONTRADICTS": ("CONTRADICTS", "Contradicts"),
                   "NOT ENOUGH INFO": ("NOT_ENOUGH_INFO", "Not")})
DECIDE = Judgement("decide", DECIDE_PROMPT, DECISIONS, "maybe", "Question",
                   {"yes": ("yes", "Yes"), "no": ("no", "No"), "maybe": ("maybe", "Maybe")}, DECIDE_EXAMPLES)

@dataclass(frozen=True)
class Calibration:
    """How a model's label log-probabilities become a label: `offsets` are added to them, and the fallback label
    (NOT ENOUGH INFO, maybe) loses `relevance_weight` × the best evidence sentence's similarity to the text, so
    weak evidence leans towards it (retrieval similarity tells evidence from none better than the model does)."""

    offsets: dict[str, float] = field(default_factory=dict)
    relevance_weight: float = 0.0


# Small models lean towards one label whatever the evidence (uncalibrated, the 1.5B wrote "yes" for all 500 PubMedQA
# test questions): per bundled model and judgement, tuned by benchmarks/tune_judge.py (run on an H100) on all SciFact
# train claims and PubMedQA's 500 non-test items only.
CALIBRATION: dict[str, dict[str, Calibration]] = {
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": {  # accuracy, macro-F1 before → after on the tuning items
        "check": Calibration({"CONTRADICTS": -1.75, "NOT ENOUGH INFO": 5.25}, 10.5),  # .468 → .618, .425 → .592
        "decide": Calibration({"no": 1.25, "maybe": 7.5}, 11.5),  # .564 → .666, .277 → .500
    },
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf": {
        "check": Calibration({"CONTRADICTS": 1.0, "NOT ENOUGH INFO": 7.25}, 12.5),  # .376 → .561, .182 → .452
        "decide": Calibration({"no": -1.0, "maybe": 7.75}, 14.5),  # .380 → .610, .335 → .454
    },
}


def pick_label(scores: dict[str, float], judgement: Judgement, model_name: str, relevance: float = 0.0) -> str:
    calibration = CALIBRATION.get(model_name, {}).get(judgement.name, Calibration())

    def adjusted(label: str) -> float:
        value = scores[label] + calibration.offsets.get(label, 0.0)
        return value - calibration.relevance_weight * relevance if label == judgement.fallback else value

    return max(scores, key=adjusted)


def parse_label(raw: str, judgement: Judgement) -> str:
    """The first label word the model wrote (its reply starts with it when it follows the prompt)."""
    head = raw.strip().upper().replace("*", "")
    for word, label in judgement.labels.items():
        if head.startswith(word):
            return label
    found = [(head.find(word), label) for word, label in judgement.labels.items() if re.search(rf"\b{word}\b", head)]
    return min(found)[1] if found else judgement.fallback


def parse_verdict(raw: str) -> str:
    return parse_label(raw, CHECK)


def judge_prompt(qa, text: str, judgement: Judgement, k=None):
    """(text, hits, sources, messages) for judging `text`; messages is None when the evidence is too weak to ask."""
    settings = qa.settings
    text = " ".join(text.split())
    hits = qa.search(text, k=k or settings.k)
    sources = select_evidence(qa, text, hits, settings.evidence_sentences)
    if not sources or sources[0].relevance < settings.min_relevance:
        return text, hits, sources, None
    if judgement.examples:  # a yes/no answer rests on a study's results, which rarely echo the question's words
        messages = [{"role": "system", "content": judgement.system}]
        for abstract, question, label in judgement.examples:
            messages += [{"role": "user", "content": f"Abstract: {abstract}\n\nQuestion: {question}"},
                         {"role": "assistant", "content": label}]
        best = verdict_sources(hits, sources)[0].hit
        whole = qa.store.paper_texts([best.paper_id]).get(best.paper_id, best.text)  # every chunk: results come last
        whole = whole if len(whole) <= WHOLE_TEXT_CHARS else best.text  # a full paper would not fit the context
        messages.append({"role": "user", "content": f"Abstract: {whole}\n\n{judgement.prompt_label}: {text}"})
        return text, hits, sources, messages
    messages = [{"role": "system", "content": judgement.system},
                {"role": "user", "content": f"Sources:\n{render_sources(sources)}\n\n{judgement.prompt_label}: {text}"}]
    return text, hits, sources, messages


CITED_SOURCES = 2  # a verdict cites the best-ranked papers of its evidence, at most this many


def verdict_sources(hits: list[SearchHit], sources: list[Source]) -> list[Source]:
    """The sources a verdict cites: those of the best-ranked retrieved papers (hybrid search ranks the paper that
    decides a claim first more often than sentence similarity or the small model's own pick does)."""
    rank = {hit.paper_id: n for n, hit in enumerate(hits)}
    return sorted(sources, key=lambda s: rank.get(s.hit.paper_id, len(hits)))[:CITED_SOURCES]


def judge(qa, text: str, judgement: Judgement, k=None, explain: bool = True) -> Answer:
    """A label (verdict or yes/no/maybe) for `text` from the retrieved evidence, with the cited papers.

    With a model that exposes its probabilities (llama.cpp), the label is read from them and calibrated (see
    `Calibration`), the best-ranked evidence papers are cited, and `explain` has the model write one sentence of
    reason after "LABEL [n]". Other backends write the label, the source and the reason as text, which is parsed.
    """
    from .llm import Generation

    started = time.perf_counter()
    text, hits, sources, messages = judge_prompt(qa, text, judgement, k)
    retrieve_ms = 1000 * (time.perf_counter() - started)
    answer = Answer(question=text, text=f"{judgement.fallback}: no indexed paper addresses this.", answerable=False,
                    contexts=hits, verdict=judgement.fallback, timings={"retrieve_ms": round(retrieve_ms, 1)})
    if messages is None:
        answer.timings["total_ms"] = round(1000 * (time.perf_counter() - started), 1)
        return answer
    by_key = {source.key: source for source in sources}
    cited = [source.key for source in verdict_sources(hits, sources)]
    cited = cited[:1] if judgement.examples else cited  # a decision cites the one paper it was asked about
    with qa._lock:
        llm = qa.llm
        if hasattr(llm, "score_options"):
            labels = list(judgement.options)
            scores = dict(zip(labels, llm.score_options(messages, [list(judgement.options[x]) for x in labels])))
            answer.verdict = pick_label(scores, judgement, llm.name, sources[0].relevance)
            answer.label_scores = {label: round(value, 4) for label, value in scores.items()}
            head = f"{judgement.options[answer.verdict][0]} [{cited[0]}]"
            writes = explain and not judgement.examples
            # after "VERDICT [n]" alone the bundled models end their turn; after the colon they give the reason
            generation: Generation = (llm.chat(messages, max_tokens=REASON_TOKENS, temperature=0.0, prefix=head + ":",
                                               stop=["\n"]) if writes else Generation())
            reason = re.sub(r"^[\s:.,;-]+", "", generation.text).strip()
            generation.text = f"{head} {reason}".strip()
        else:
            generation = llm.chat(messages, max_tokens=96, temperature=0.0)
            answer.verdict = parse_label(generation.text, judgement)
            words = "|".join(re.escape(w).replace("_", "[_ ]") for w in judgement.labels)
            reason = re.sub(rf"^[^\w\[]*({words})\b[^\w\[]*", "", generation.text.strip(), flags=re.I)
            named = [n for n in _markers(reason) if n in by_key]
            cited = named[:1] + [n for n in cited if n not in named[:1]]  # the source the model named comes first
            lead = MARKER.match(reason)  # "[2] The trial ...": the source named before the reason
            reason = reason[lead.end():].strip() if lead and int(re.findall(r"\d+", lead.group(1))[0]) == cited[0] else reason
    answer.raw_text = generation.text
    answer.prompt_tokens, answer.completion_tokens = generation.prompt_tokens, generation.completion_tokens
    support: dict[int, list[str]] = {}
    cited_text = ""
    if reason:
        cited_text, support, answer.uncited_sentences = verify_citations(qa, reason, sources)
    missing = [key for key in cited if key not in support]
    if missing:  # the reason explains the sources named for the verdict
        cited_text = _cite_at_end(cited_text, missing) if cited_text else "".join(f"[{key}]" for key in missing)
    for key in missing:
        support[key] = [_supporting_sentence(qa, reason or text, by_key[key])]
    answer.citations = [Citation(n, by_key[n].hit.paper_id, by_key[n].hit.title, by_key[n].hit.year,
                                 list(dict.fromkeys(s)), by_key[n].hit.score) for n, s in sorted(support.items())]
    answer.answerable = answer.verdict != "NOT ENOUGH INFO"
    answer.text = f"{answer.verdict}: {cited_text}"
    answer.timings.update(llm_ttft_ms=round(generation.ttft_ms, 1), total_ms=round(1000 * (time.perf_counter() - started), 1))
    return answer


def _cite_at_end(text: str, keys: list[int]) -> str:
    """`text` with the markers of `keys` before its final full stop."""
    end = len(text) - 1 if text[-1:] in ".!?" else len(text)
    space = "" if text[:end].endswith("]") else " "
    return f"{text[:end]}{space}{''.join(f'[{key}]' for key in keys)}{text[end:]}"


def check_claim(qa, claim: str, k=None, explain: bool = True) -> Answer:
    """SUPPORTS / CONTRADICTS / NOT ENOUGH INFO for a claim, with the cited papers and evidence sentences."""
    return judge(qa, claim, CHECK, k, explain)


def decide(qa, question: str, k=None, explain: bool = True) -> Answer:
    """yes / no / maybe for a research question (PubMedQA style), with the cited papers."""
    return judge(qa, question, DECIDE, k, explain)

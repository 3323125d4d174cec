"""Questions with a closed set of answers: claim verdicts (SUPPORTS / CONTRADICTS / NOT ENOUGH INFO) and
research decisions (yes / no / maybe), each with the papers that decide it.

The label is read from the model's probabilities of each label's first token and calibrated per bundled model
(`models.Calibration`, kept beside each model's entry); weak evidence leans towards the fallback label. The
reason the model then writes is verified like an answer (`answer.verify_citations`).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .answer import _markers, supporting_sentences, verify_citations
from .evidence import WHOLE_TEXT_CHARS, Source, best_sentence, render_sources, select_evidence
from .guard import evidence_text
from .models import DECISION_CUES, calibration_for
from .support import MARKER
from .types import Answer, Citation, SearchHit

if TYPE_CHECKING:
    from .qa import PaperQA

CHECK_PROMPT = (
    "You check scientific claims against numbered sources. Reply with one verdict word first: SUPPORTS if the "
    "sources show the claim is true, CONTRADICTS if they show it is false, NOT_ENOUGH_INFO if they do not say. "
    "Then the number of the source that decides it in square brackets, then one sentence of explanation. "
    "Example: CONTRADICTS [2] The trial found no effect on mortality."
)


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

# what the linear calibrations read (`models.CLAIM_SIGNALS`, `models.DECISION_SIGNALS`, kept beside the fitted
# weights): for a decision, how the abstract asked about words its findings (`decision_cues`). The 1.5B reads "no"
# findings as "yes" (90 of 169 on PubMedQA test): the abstract's negated findings and p-values tell them apart.
_P_VALUE = re.compile(r"\bp\s*(?:value\s*)?([<>=≤≥])\s*(0?\.\d+|1\.0|0)", re.I)
_NEGATED = re.compile(r"\b(no|not|neither|nor|without|failed to|did not|does not|was not|were not|lack of|absence of)\b"
                      r"[^.;]{0,60}?\b(significant|differ|associat|effect|improv|correlat|predict|benefit|increas|reduc|"
                      r"change|relat|impact|influenc)\w*", re.I)
_SIGNIFICANT = re.compile(r"\bsignificant(ly)?\b", re.I)
_HEDGED = re.compile(r"\b(may|might|could|unclear|inconclusive|trend|tended|further (studies|research|investigation)|"
                     r"limited|small sample|warrant\w*|suggest\w*|not clear|controvers\w*|mixed)\b", re.I)


def decision_cues(abstract: str) -> dict[str, float]:
    """How an abstract words its findings, as log(1 + count): p-values at or under 0.05 and at or over it,
    negated findings ("did not differ", "no significant association"), "significant", hedges ("may", "trend")."""
    below = above = 0
    for op, value in _P_VALUE.findall(abstract):
        below += op in "<≤" and float(value) <= 0.05 or op == "=" and float(value) < 0.05
        above += op in ">≥" and float(value) >= 0.05 or op == "=" and float(value) >= 0.05
    counts = (below, above, len(_NEGATED.findall(abstract)), len(_SIGNIFICANT.findall(abstract)),
              len(_HEDGED.findall(abstract)))
    return {name: math.log1p(count) for name, count in zip(DECISION_CUES, counts)}


def asking(messages: list[dict], judgement: Judgement, text: str) -> list[dict]:
    """`messages` with the text judged in the last turn replaced by `text` (the sources' prefix, cached, stays)."""
    head = messages[-1]["content"].rsplit(f"{judgement.prompt_label}: ", 1)[0]
    return messages[:-1] + [{**messages[-1], "content": f"{head}{judgement.prompt_label}: {text}"}]


def claim_signals(qa: PaperQA, llm, claim: str, relevance: float, k=None) -> dict[str, float] | None:
    """`models.CLAIM_SIGNALS` for `claim` (the caller holds `llm.lock`); None when the question form finds no evidence.
    On PubMedQA, asking about the best paper's whole abstract after worked examples separated yes from no far
    better than numbered evidence sentences did; for claims it did too (benchmarks/judge_variants.py)."""
    claim = claim.rstrip(".")
    _, _, _, asked = judge_prompt(qa, f"Is it true that {claim}?", DECIDE, k)
    if asked is None:
        return None
    labels = list(DECIDE.options)
    found = dict(zip(labels, llm.score_options(asked, [list(DECIDE.options[x]) for x in labels])))
    found["false_yes"] = llm.score_options(asking(asked, DECIDE, f"Is it false that {claim}?"), [list(DECIDE.options["yes"])])[0]
    return {**found, "relevance": relevance}


def linear_label(calibration, signals: dict[str, float], labels: list[str]) -> str:
    """The label a linear calibration (`models.Calibration.linear`) gives these signals."""
    z = [(signals[name] - centre) / scale for name, centre, scale in zip(calibration.signals, calibration.centre, calibration.scale)]
    *rows, bias = calibration.linear
    logits = [sum(value * row[n] for value, row in zip(z, rows)) + bias[n] for n in range(len(labels))]
    return labels[max(range(len(labels)), key=logits.__getitem__)]


def pick_label(scores: dict[str, float], judgement: Judgement, model_name: str, relevance: float = 0.0) -> str:
    calibration = getattr(calibration_for(model_name), judgement.name)

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


def judge_prompt(qa: PaperQA, text: str, judgement: Judgement, k=None):
    """(text, hits, sources, messages) for judging `text`; messages is None when the evidence is too weak to ask."""
    settings = qa.settings
    text = " ".join(text.split())
    hits = qa.search(text, k=k or settings.k)
    sources = select_evidence(qa, text, hits, 1 << 20, max_per_paper=settings.evidence_sentences, cover_parts=False)
    if not sources or sources[0].relevance < settings.min_relevance:
        return text, hits, sources, None
    if judgement.examples:  # a yes/no answer rests on a study's results, which rarely echo the question's words
        messages = [{"role": "system", "content": judgement.system}]
        for abstract, question, label in judgement.examples:
            messages += [{"role": "user", "content": f"Abstract: {abstract}\n\nQuestion: {question}"},
                         {"role": "assistant", "content": label}]
        best = verdict_sources(hits, sources)[0].hit
        whole = qa.paper_texts([best.paper_id]).get(best.paper_id, best.text)  # every chunk: results come last
        whole = evidence_text(whole if len(whole) <= WHOLE_TEXT_CHARS else best.text)  # a full paper would not fit
        messages.append({"role": "user", "content": f"Abstract: {whole}\n\n{judgement.prompt_label}: {text}"})
        return text, hits, sources, messages
    messages = [{"role": "system", "content": judgement.system},
                {"role": "user", "content": f"Sources:\n{render_sources(sources, judging=True)}\n\n{judgement.prompt_label}: {text}"}]
    return text, hits, sources, messages


def asked_abstract(messages: list[dict]) -> str:
    """The abstract a decision's prompt (`judge_prompt` with worked examples) asks about."""
    return messages[-1]["content"].split("\n\nQuestion: ", 1)[0].removeprefix("Abstract: ")


def negate(claim: str) -> str:
    """The claim's negation, in words any model reads the same way."""
    claim = claim.strip().rstrip(".")
    first = claim.split(" ", 1)[0]
    head = claim if first.isupper() or any(ch.isupper() for ch in first[1:]) else claim[:1].lower() + claim[1:]
    return f"It is not true that {head}."


CITED_SOURCES = 2  # a verdict cites the best-ranked papers of its evidence, at most this many


def verdict_sources(hits: list[SearchHit], sources: list[Source]) -> list[Source]:
    """The sources a verdict cites: those of the best-ranked retrieved papers (hybrid search ranks the paper that
    decides a claim first more often than sentence similarity or the small model's own pick does)."""
    rank = {hit.paper_id: n for n, hit in enumerate(hits)}
    return sorted(sources, key=lambda s: rank.get(s.hit.paper_id, len(hits)))[:CITED_SOURCES]


def judge(qa: PaperQA, text: str, judgement: Judgement, k=None, explain: bool = True) -> Answer:
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
    llm = qa.llm
    with llm.lock:
        if hasattr(llm, "score_options"):
            labels = list(judgement.options)
            scores = dict(zip(labels, llm.score_options(messages, [list(judgement.options[x]) for x in labels])))
            answer.verdict = pick_label(scores, judgement, llm.name, sources[0].relevance)
            answer.label_scores = {label: round(value, 4) for label, value in scores.items()}
            calibration = getattr(calibration_for(llm.name), judgement.name)
            if judgement is CHECK and calibration.linear:
                signals = claim_signals(qa, llm, text, sources[0].relevance, k)
                answer.verdict = linear_label(calibration, signals, labels) if signals else judgement.fallback
                answer.signals.update({f"claim_{name}": round(value, 4) for name, value in (signals or {}).items()})
            elif judgement is DECIDE and calibration.linear:
                signals = {**scores, **decision_cues(asked_abstract(messages)), "relevance": sources[0].relevance}
                answer.verdict = linear_label(calibration, signals, labels)
                answer.signals.update({f"decide_{name}": round(value, 4) for name, value in signals.items()})
            elif judgement is CHECK and answer.verdict == "SUPPORTS":
                # the same sources asked about the claim's negation (only the claim's tokens are new: the sources'
                # prefix is cached): a source that states the negation must not yield SUPPORTS
                against = llm.score_options(asking(messages, judgement, negate(text)), [list(judgement.options["SUPPORTS"])])[0]
                answer.signals["supports_negation"] = round(against, 4)
                if against > scores["SUPPORTS"]:
                    answer.verdict = "CONTRADICTS"
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
        cited_text, said, answer.uncited_sentences, answer.dropped = verify_citations(qa, reason, sources, text, name=False)
        support = supporting_sentences(qa, said, by_key)
    missing = [key for key in cited if key not in support]
    if missing:  # the reason explains the sources named for the verdict
        cited_text = _cite_at_end(cited_text, missing) if cited_text else "".join(f"[{key}]" for key in missing)
    for key in missing:
        support[key] = [best_sentence(qa, reason or text, by_key[key])[0]]
    answer.citations = [Citation.of(n, by_key[n].hit, list(dict.fromkeys(s)), by_key[n].hit.score)
                        for n, s in sorted(support.items())]
    answer.answerable = answer.verdict != "NOT ENOUGH INFO"
    answer.text = f"{answer.verdict}: {cited_text}"
    answer.timings.update(llm_ttft_ms=round(generation.ttft_ms, 1), total_ms=round(1000 * (time.perf_counter() - started), 1))
    return answer


def _cite_at_end(text: str, keys: list[int]) -> str:
    """`text` with the markers of `keys` before its final full stop."""
    end = len(text) - 1 if text[-1:] in ".!?" else len(text)
    space = "" if text[:end].endswith("]") else " "
    return f"{text[:end]}{space}{''.join(f'[{key}]' for key in keys)}{text[end:]}"


def check_claim(qa: PaperQA, claim: str, k=None, explain: bool = True) -> Answer:
    """SUPPORTS / CONTRADICTS / NOT ENOUGH INFO for a claim, with the cited papers and evidence sentences."""
    return judge(qa, claim, CHECK, k, explain)


def decide(qa: PaperQA, question: str, k=None, explain: bool = True) -> Answer:
    """yes / no / maybe for a research question (PubMedQA style), with the cited papers."""
    return judge(qa, question, DECIDE, k, explain)

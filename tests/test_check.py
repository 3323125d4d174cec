"""Claim checking and yes/no/maybe decisions, and the answer-quality metrics."""

import pytest

from paperqa_local import PaperQA
from paperqa_local.judge import CHECK, DECIDE, parse_label
from paperqa_local.eval.qa import macro_f1

from .conftest import HashEmbedder, ScriptedLLM
from .test_answer import PAPERS


@pytest.fixture
def qa(tmp_path):
    qa = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test", llm=ScriptedLLM(), min_relevance=0.1)
    qa.ingest_papers(PAPERS)
    return qa


def test_check_returns_verdict_and_evidence(qa):
    qa._llm.enqueue("CONTRADICTS. Bleached corals recover within two years when water cools [2].")
    answer = qa.check("Bleached corals never recover.")
    assert answer.verdict == "CONTRADICTS" and answer.answerable
    assert [c.paper_id for c in answer.citations] == ["p-coral"]
    assert answer.citations[0].sentences == ["Bleached corals recover within two years when water cools."]
    assert answer.text.startswith("CONTRADICTS: Bleached corals recover")
    assert "Claim: Bleached corals never recover." in qa._llm.prompts[0][1]["content"]


def test_check_without_usable_marker_cites_the_best_evidence(qa):
    qa._llm.enqueue("SUPPORTS because fish like warmth [9]")
    answer = qa.check("Juvenile fish grow faster in warm tide pools.")
    assert answer.verdict == "SUPPORTS"
    assert [c.paper_id for c in answer.citations] == ["p-tides"]


def test_decide_yes_no_maybe(qa):
    qa._llm.enqueue("No, they recover within two years [2].")
    answer = qa.decide("Do bleached corals stay bleached forever?")
    assert answer.verdict == "no" and answer.citations[0].paper_id == "p-coral"


@pytest.mark.parametrize("raw,expected", [
    ("SUPPORTS. x", "SUPPORTS"), ("**Contradicts** the claim", "CONTRADICTS"), ("NOT_ENOUGH_INFO", "NOT ENOUGH INFO"),
    ("The sources support it: SUPPORTS", "SUPPORTS"), ("gibberish", "NOT ENOUGH INFO"),
])
def test_parse_verdict(raw, expected):
    assert parse_label(raw, CHECK) == expected


def test_parse_decision():
    assert parse_label("Yes, it does [1].", DECIDE) == "yes"
    assert parse_label("Maybe. The evidence is mixed.", DECIDE) == "maybe"
    assert parse_label("The answer is no [2]", DECIDE) == "no"


def test_macro_f1_and_confusion_matrix():
    f1, matrix = macro_f1(["a", "a", "b", "c"], ["a", "b", "b", "a"], ["a", "b", "c"])
    # a: P=1/2 R=1/2 F=.5; b: P=1/2 R=1 F=2/3; c: F=0
    assert f1 == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert matrix["a"] == {"a": 1, "b": 1, "c": 0} and matrix["c"]["a"] == 1


class ScoringLLM(ScriptedLLM):
    """A scripted LLM that also exposes label probabilities, as llama.cpp does: `labels` are the log-probabilities
    of the labels' first words; the replies continue the given `prefix`."""

    name = "scoring"

    def __init__(self, labels, *replies):
        super().__init__(*replies)
        self.labels, self.prefixes = labels, []

    def score_options(self, messages, options, prefix=""):
        self.prompts.append(messages)
        return [self.labels.get(spellings[0], -20.0) for spellings in options]

    def stream_chat(self, messages, generation, max_tokens=256, temperature=0.0, stop=None, prefix="", forbid_first=None):
        self.prefixes.append(prefix)
        yield from super().stream_chat(messages, generation, max_tokens, temperature, stop)


@pytest.fixture
def every_source_kept(monkeypatch):
    """Both papers stay sources, however unlike the claim the hashing embedder finds one of them."""
    from paperqa_local import evidence

    monkeypatch.setattr(evidence, "RELATIVE_GATE", 1.0)


def scoring_qa(tmp_path, llm):
    qa = PaperQA(data_dir=tmp_path / "s", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm, min_relevance=0.1)
    qa.ingest_papers(PAPERS)
    return qa


@pytest.mark.usefixtures("every_source_kept")
def test_label_comes_from_the_model_probabilities_and_the_best_ranked_papers_are_cited(tmp_path):
    llm = ScoringLLM({"SUPPORTS": -2.0, "CONTRADICTS": -0.3, "NOT_ENOUGH_INFO": -3.0},
                     "Corals recover within two years once the water cools.")
    qa = scoring_qa(tmp_path, llm)
    answer = qa.check("Bleached corals never recover.")
    assert answer.verdict == "CONTRADICTS" and answer.answerable
    assert llm.prefixes == ["CONTRADICTS [1]:"]  # the reason is written after the verdict and its first source
    assert answer.label_scores == {"SUPPORTS": -2.0, "CONTRADICTS": -0.3, "NOT ENOUGH INFO": -3.0}
    ranked = [hit.paper_id for hit in answer.contexts]
    assert [c.paper_id for c in answer.citations] == ranked[:2]  # both papers, in retrieval order
    coral = next(c for c in answer.citations if c.paper_id == "p-coral")
    assert coral.sentences == ["Bleached corals recover within two years when water cools."]
    assert answer.text == "CONTRADICTS: Corals recover within two years once the water cools [1][2]."


@pytest.mark.usefixtures("every_source_kept")
def test_calibration_offsets_and_weak_evidence_move_the_label(tmp_path, monkeypatch):
    from paperqa_local import evidence, judge
    from paperqa_local.models import Calibration, ModelCalibration

    llm = ScoringLLM({"SUPPORTS": -0.2, "CONTRADICTS": -1.0, "NOT_ENOUGH_INFO": -3.0})
    qa = scoring_qa(tmp_path, llm)
    claim = "Juvenile fish grow faster in warm tide pools."
    assert qa.check(claim, explain=False).verdict == "SUPPORTS"
    assert llm.prefixes == []  # explain=False: no reason written

    monkeypatch.setattr(judge, "calibration_for", lambda name: ModelCalibration(check=Calibration({"CONTRADICTS": 1.0})))
    answer = qa.check(claim, explain=False)
    assert answer.verdict == "CONTRADICTS" and answer.text.startswith("CONTRADICTS: [")

    # NOT ENOUGH INFO gains what the evidence lacks in similarity (offset 10, weight 10: +10 × (1 − relevance))
    monkeypatch.setattr(judge, "calibration_for",
                        lambda name: ModelCalibration(check=Calibration({"NOT ENOUGH INFO": 10.0}, 10.0)))
    assert qa.check(claim, explain=False).verdict == "SUPPORTS"  # the claim is a sentence of the abstract
    weak = "Tide pools hold fish and crabs."
    assert evidence.select_evidence(qa, weak, qa.search(weak), 1000, max_per_paper=3)[0].relevance < 0.6
    answer = qa.check(weak, explain=False)
    assert answer.verdict == "NOT ENOUGH INFO" and not answer.answerable


def test_decide_asks_about_the_whole_abstract_of_a_paper_stored_in_several_chunks(tmp_path):
    from paperqa_local.types import Paper

    background = " ".join(f"Background sentence {n} on tide pool fish nurseries and their juvenile growth." for n in range(30))
    long_paper = Paper("p-long", "Tide pool nurseries", background + " Results: growth was zorbly faster in warm pools.")
    llm = ScoringLLM({"yes": -0.1, "no": -2.0, "maybe": -3.0})
    qa = PaperQA(data_dir=tmp_path / "w", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm, min_relevance=0.1)
    qa.ingest_papers([long_paper])
    assert qa.stats()["chunks"] > 1
    answer = qa.decide("Do tide pool fish nurseries help juvenile growth?")
    asked = llm.prompts[-1][-1]["content"]
    assert "zorbly" in asked and "Background sentence 0 " in asked  # the results chunk and the first one
    assert len(llm.prompts[-1]) == 2 + 2 * 3  # system, three worked examples (question + answer), the question
    assert answer.verdict == "yes" and [c.paper_id for c in answer.citations] == ["p-long"]


def test_decide_asks_about_the_best_chunk_only_when_the_whole_text_would_not_fit(tmp_path):
    from paperqa_local.evidence import WHOLE_TEXT_CHARS
    from paperqa_local.types import Paper

    filler = " ".join(f"Methods sentence {n} describes the rock pool sampling grid in plain detail." for n in range(150))
    long_paper = Paper("p-book", "Rock pool survey", filler + " Results: limpets were zorbly abundant on north faces.")
    assert len(long_paper.abstract) > WHOLE_TEXT_CHARS
    llm = ScoringLLM({"yes": -0.1, "no": -2.0, "maybe": -3.0})
    qa = PaperQA(data_dir=tmp_path / "w", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm, min_relevance=0.1)
    qa.ingest_papers([long_paper])
    qa.decide("Are limpets zorbly abundant on north faces of rock pools?")
    asked = llm.prompts[-1][-1]["content"]
    assert "zorbly" in asked and "Methods sentence 0 " not in asked and len(asked) < WHOLE_TEXT_CHARS


class NegationAwareLLM(ScoringLLM):
    """Scores SUPPORTS by whether the judged text is negated, as a model reading a source that states the
    opposite of the claim would."""

    def score_options(self, messages, options, prefix=""):
        negated = messages[-1]["content"].rstrip().endswith(tuple(["."])) and "It is not true that" in messages[-1]["content"]
        self.prompts.append(messages)
        if len(options) == 1:  # the negation's SUPPORTS
            return [-0.2 if negated else -3.0]
        return [self.labels.get(spellings[0], -20.0) for spellings in options]


@pytest.mark.usefixtures("every_source_kept")
def test_a_source_stating_the_negation_turns_supports_into_contradicts(tmp_path):
    from paperqa_local.judge import negate

    assert negate("Bleached corals never recover.") == "It is not true that bleached corals never recover."
    assert negate("LoRA needs no retraining") == "It is not true that LoRA needs no retraining."
    llm = NegationAwareLLM({"SUPPORTS": -0.5, "CONTRADICTS": -2.0, "NOT_ENOUGH_INFO": -3.0})
    answer = scoring_qa(tmp_path, llm).check("Bleached corals never recover.", explain=False)
    assert answer.verdict == "CONTRADICTS" and answer.signals["supports_negation"] == -0.2
    assert llm.prompts[-1][-1]["content"].endswith("Claim: It is not true that bleached corals never recover.")


class QuestionLLM(ScoringLLM):
    """Answers a claim asked as a question: "no" to "Is it true that …?", "yes" to "Is it false that …?"."""

    def score_options(self, messages, options, prefix=""):
        self.prompts.append(messages)
        last = messages[-1]["content"]
        if "Question: Is it false that" in last:
            return [-0.1]
        if "Question: Is it true that" in last:
            return [-3.0, -0.1, -2.0]  # yes, no, maybe
        return [self.labels.get(spellings[0], -20.0) for spellings in options]


@pytest.mark.usefixtures("every_source_kept")
def test_a_claim_is_asked_as_a_question_and_read_by_its_linear_calibration(tmp_path, monkeypatch):
    from paperqa_local import judge
    from paperqa_local.models import CLAIM_SIGNALS, Calibration, ModelCalibration

    # yes → SUPPORTS, no → CONTRADICTS, maybe → NOT ENOUGH INFO; "false: yes" and relevance read as nothing
    linear = ((1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 0), (0, 0, 0), (0, 0, 0))
    calibration = ModelCalibration(check=Calibration(linear=linear, centre=(0,) * 5, scale=(1,) * 5, signals=CLAIM_SIGNALS))
    monkeypatch.setattr(judge, "calibration_for", lambda name: calibration)
    llm = QuestionLLM({"SUPPORTS": -0.1, "CONTRADICTS": -3.0, "NOT_ENOUGH_INFO": -3.0})  # the CHECK prompt says SUPPORTS
    answer = scoring_qa(tmp_path, llm).check("Bleached corals never recover.", explain=False)
    assert answer.verdict == "CONTRADICTS" and answer.answerable
    assert (answer.signals["claim_no"], answer.signals["claim_false_yes"]) == (-0.1, -0.1)
    asked = next(p for p in llm.prompts if "Is it true that" in p[-1]["content"])
    assert asked[-1]["content"].endswith("Question: Is it true that Bleached corals never recover?")
    assert len(asked) == 2 + 2 * 3 and "Bleached corals recover within two years" in asked[-1]["content"]
    flipped = next(p for p in llm.prompts if "Is it false that" in p[-1]["content"])
    assert flipped[:-1] == asked[:-1]  # the same examples and abstract: only the question's tokens are new
    assert judge.linear_label(calibration.check, {"yes": 0, "no": -5, "maybe": -5, "false_yes": 0, "relevance": 1},
                              ["SUPPORTS", "CONTRADICTS", "NOT ENOUGH INFO"]) == "SUPPORTS"


def test_decision_cues_count_how_an_abstract_words_its_findings():
    from math import log1p

    from paperqa_local.judge import decision_cues

    cues = decision_cues("Pain fell with the drug (p<0.001) but sleep did not differ (p = 0.71; P > .05). "
                         "Fatigue was significantly lower. Larger trials may be needed.")
    assert cues == {"p_below": log1p(1), "p_above": log1p(2), "negated": log1p(1), "significant": log1p(1),
                    "hedged": log1p(1)}
    assert set(decision_cues("Nothing measured here.").values()) == {0.0}


def test_a_decision_reads_the_abstracts_negated_findings_through_its_linear_calibration(tmp_path, monkeypatch):
    from paperqa_local import judge
    from paperqa_local.models import DECISION_SIGNALS, Calibration, ModelCalibration
    from paperqa_local.types import Paper

    # the model's yes and no count as they are; each negated finding adds 4 to no
    rows = [(1, 0, 0), (0, 1, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 4, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, -9)]
    decide = Calibration(linear=tuple(rows), centre=(0,) * 9, scale=(1,) * 9, signals=DECISION_SIGNALS)
    monkeypatch.setattr(judge, "calibration_for", lambda name: ModelCalibration(decide=decide))
    llm = ScoringLLM({"yes": -0.1, "no": -2.0, "maybe": -3.0})  # the model leans to yes whatever it reads
    qa = PaperQA(data_dir=tmp_path / "w", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm, min_relevance=0.1)
    qa.ingest_papers([Paper("p-null", "Tide pool warming trial", "Juvenile fish growth in warm tide pools did not differ "
                                                                "from growth in cool pools (p = 0.64).")])
    answer = qa.decide("Do juvenile fish grow faster in warm tide pools?")
    assert answer.verdict == "no" and answer.signals["decide_negated"] > 0 and answer.signals["decide_yes"] == -0.1
    qa.ingest_papers([Paper("p-pos", "Kelp shade trial", "Kelp shade lowered the pools' midday temperature by 3 degrees.")])
    assert qa.decide("Does kelp shade cool tide pools at midday?").verdict == "yes"

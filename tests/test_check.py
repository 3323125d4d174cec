"""Claim checking and yes/no/maybe decisions, and the answer-quality metrics."""

import pytest

from paperqa_local import PaperQA
from paperqa_local.answer import CHECK, DECIDE, parse_label
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
    of the labels' first words, `keys` those of the source numbers after the label; the replies follow `prefix`."""

    name = "scoring"

    def __init__(self, labels, keys, *replies):
        super().__init__(*replies)
        self.labels, self.keys, self.prefixes = labels, keys, []

    def score_options(self, messages, options, prefix=""):
        self.prefixes.append(prefix)
        table = self.keys if prefix else self.labels
        return [table.get(spellings[0], -20.0) for spellings in options]

    def stream_chat(self, messages, generation, max_tokens=256, temperature=0.0, stop=None, prefix=""):
        self.prefixes.append(prefix)
        yield from super().stream_chat(messages, generation, max_tokens, temperature, stop)


@pytest.fixture
def every_source_kept(monkeypatch):
    """Both papers stay sources, however unlike the claim the hashing embedder finds one of them."""
    from paperqa_local import answer as answer_module

    monkeypatch.setattr(answer_module, "RELATIVE_GATE", 1.0)


def scoring_qa(tmp_path, llm):
    qa = PaperQA(data_dir=tmp_path / "s", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm, min_relevance=0.1)
    qa.ingest_papers(PAPERS)
    return qa


@pytest.mark.usefixtures("every_source_kept")
def test_label_and_cited_source_come_from_the_model_probabilities(tmp_path):
    llm = ScoringLLM({"SUPPORTS": -2.0, "CONTRADICTS": -0.3, "NOT_ENOUGH_INFO": -3.0}, {"1": -0.1, "2": -2.5},
                     "Corals recover within two years once the water cools.")
    qa = scoring_qa(tmp_path, llm)
    answer = qa.check("Bleached corals never recover.")
    assert answer.verdict == "CONTRADICTS"
    assert llm.prefixes[-2:] == ["CONTRADICTS [", "CONTRADICTS [1]"]  # the source is named after the verdict
    assert [c.paper_id for c in answer.citations] == ["p-coral"]  # source 1: the most relevant evidence
    assert answer.text == "CONTRADICTS: Corals recover within two years once the water cools [1]."
    assert answer.label_scores == {"SUPPORTS": -2.0, "CONTRADICTS": -0.3, "NOT ENOUGH INFO": -3.0}
    assert answer.source_scores == {"1": -0.1, "2": -2.5}
    assert answer.citations[0].sentences == ["Bleached corals recover within two years when water cools."]


@pytest.mark.usefixtures("every_source_kept")
def test_the_source_the_model_names_is_cited_even_when_it_is_not_the_most_similar(tmp_path):
    llm = ScoringLLM({"SUPPORTS": -0.1, "CONTRADICTS": -3.0, "NOT_ENOUGH_INFO": -3.0}, {"1": -2.0, "2": -0.2})
    answer = scoring_qa(tmp_path, llm).check("Bleached corals never recover.", explain=False)
    assert llm.prefixes == ["", "SUPPORTS ["]  # no reason written
    assert answer.text == "SUPPORTS: [2]" and [c.paper_id for c in answer.citations] == ["p-tides"]


@pytest.mark.usefixtures("every_source_kept")
def test_calibration_offsets_move_the_label(tmp_path, monkeypatch):
    from paperqa_local import answer as answer_module

    llm = ScoringLLM({"yes": -0.2, "no": -1.0, "maybe": -3.0}, {"1": -0.1, "2": -3.0})
    qa = scoring_qa(tmp_path, llm)
    assert qa.decide("Do juvenile fish grow faster in warm tide pools?", explain=False).verdict == "yes"
    monkeypatch.setitem(answer_module.CALIBRATION, "scoring", {"decide": {"no": 1.0}})
    answer = qa.decide("Do juvenile fish grow faster in warm tide pools?", explain=False)
    assert answer.verdict == "no" and answer.answerable
    assert answer.text == "no: [1]" and [c.paper_id for c in answer.citations] == ["p-tides"]

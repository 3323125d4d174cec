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

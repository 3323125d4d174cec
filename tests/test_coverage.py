"""A note of the model's that something is not reported, checked against the cited sources (coverage.py)."""

from __future__ import annotations

import re

import pytest

from paperqa_local import PaperQA
from paperqa_local.coverage import choice_prompt, missing_part
from paperqa_local.types import Paper

from .conftest import HashEmbedder, ScriptedLLM

PAPERS = [
    Paper("p-tides", "TideNet: Counting fish in tide pools",
          "TideNet counts juvenile fish in tide pools with an underwater camera array. The array is cleaned by a wiper "
          "every hour. TideNet was trained on labelled frames from Bondi, Manly and Coogee. Juvenile fish grow 2.5x faster "
          "in warm pools."),
]
QUESTION = "Is there a tool that counts juvenile fish in tide pools, and which beaches did its training frames come from?"
REPLY = "TideNet [1] counts juvenile fish in tide pools. The abstract does not report which beaches its training frames came from."


class ChoosingLLM(ScriptedLLM):
    """A scripted model that, asked to choose among numbered sentences, prefers the one holding `wanted` (or
    "none of them" when `wanted` is None); the decline it scores as unlikely."""

    def __init__(self, wanted: str | None, *replies: str):
        super().__init__(*replies)
        self.wanted, self.choices = wanted, []

    def score_options(self, messages, options, prefix=""):
        if options[0] != ["0"]:
            return [-9.0 for _ in options]  # the decline: unlikely
        listed = dict(re.findall(r"^(\d)\. (.*)$", messages[-1]["content"], re.M))
        self.choices.append(listed)
        return [-0.1 if (self.wanted is None and n == "0") or (self.wanted and self.wanted in listed.get(n, "")) else -3.0
                for n, in options]

    def stream_chat(self, messages, generation, max_tokens=256, temperature=0.0, stop=None, prefix="", forbid_first=None):
        self.replies[0] = self.replies[0].removeprefix(prefix)  # the reply goes on from the answer's lead
        yield from super().stream_chat(messages, generation, max_tokens, temperature, stop)


@pytest.fixture
def make_qa(tmp_path):
    def make(llm):
        qa = PaperQA(data_dir=tmp_path / "c", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm,
                     min_relevance=0.05)
        qa.ingest_papers(PAPERS)
        return qa
    return make


def test_a_note_that_a_cited_sentence_answers_is_replaced_by_that_sentence_cited(make_qa):
    llm = ChoosingLLM("Bondi", REPLY)
    answer = make_qa(llm).ask(QUESTION)
    assert answer.text == ("TideNet counts juvenile fish in tide pools [1]. TideNet was trained on labelled frames "
                           "from Bondi, Manly and Coogee [1].")
    assert "does not report" not in answer.text
    assert answer.signals["notes_checked"][0]["margin"] == pytest.approx(2.9)


def test_a_note_the_model_finds_no_sentence_for_stays(make_qa):
    llm = ChoosingLLM(None, REPLY)
    answer = make_qa(llm).ask(QUESTION)
    assert answer.text == ("TideNet counts juvenile fish in tide pools [1]. The abstract does not report which beaches "
                           "its training frames came from.")
    assert "TideNet was trained on labelled frames from Bondi, Manly and Coogee." in llm.choices[0].values()  # it was offered
    assert answer.signals["notes_checked"][0]["margin"] < 0


def test_the_pipelines_own_notes_and_answers_without_notes_ask_nothing(make_qa):
    llm = ChoosingLLM("Bondi", "TideNet [1] counts juvenile fish in tide pools.")
    answer = make_qa(llm).ask("Is there a tool that counts juvenile fish in tide pools?")
    assert llm.choices == [] and "notes_checked" not in answer.signals


def test_what_a_note_says_is_missing():
    assert missing_part("The abstract does not report which sampler it uses.") == "which sampler it uses"
    assert missing_part("The cited abstracts do not mention the latency gain.") == "the latency gain"
    assert missing_part("It does not specify whether the code is released.") == "the code is released"
    prompt = choice_prompt("which sampler it uses", ["A.", "B."])
    assert "1. A.\n2. B.\n0. None of them." in prompt and prompt.endswith("Reply with its number only.")


def test_a_note_that_the_sources_are_not_about_a_topic_is_not_put_to_the_model(make_qa):
    llm = ChoosingLLM("Bondi", "TideNet [1] counts juvenile fish in tide pools. The abstract does not report on coral "
                               "bleaching in the pools.")
    answer = make_qa(llm).ask("Is there a tool that counts juvenile fish in tide pools, and does shade reduce coral "
                              "bleaching there?")
    assert llm.choices == [] and "does not report on coral bleaching" in answer.text


def test_a_chosen_sentence_must_hold_the_kind_of_fact_the_note_misses():
    from paperqa_local.coverage import gives_kind

    question = "Does TideNet count fish in tide pools? The abstract does not report which camera it uses."
    assert gives_kind("how many frames it was trained on", "TideNet was trained on 12,000 frames.", question)
    assert not gives_kind("how many frames it was trained on", "TideNet was trained on frames from ReefCam.", question)
    assert gives_kind("which camera it uses", "TideNet uses the ReefCam array.", question)
    assert not gives_kind("which camera it uses", "TideNet counts fish in 3 pools.", question)

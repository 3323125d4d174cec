"""Answers and citations: unit tests with a scripted LLM over a hashed-embedding index, then the real
bundled 0.5B model through llama.cpp over the real seeds index."""

import json
import subprocess
import sys

import pytest

from paperqa_local import PaperQA
from paperqa_local.answer import DECLINE
from paperqa_local.errors import ModelError
from paperqa_local.types import Answer, Paper

from .conftest import DEOXYS, HashEmbedder, ScriptedLLM

PAPERS = [
    Paper("p-tides", "Tide pools as nurseries", "Tide pools shelter juvenile fish. Juvenile fish grow faster in warm tide pools. We sampled 40 pools."),
    Paper("p-coral", "Coral bleaching and heat", "Coral bleaching follows marine heatwaves. Bleached corals recover within two years when water cools."),
]


@pytest.fixture
def scripted(tmp_path):
    def make(*replies):
        llm = ScriptedLLM(*replies)
        qa = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm, min_relevance=0.1)
        qa.ingest_papers(PAPERS)
        return qa, llm
    return make


def test_forged_out_of_range_marker_is_removed(scripted):
    qa, _ = scripted("Juvenile fish grow faster in warm tide pools [1][7]. Corals recover in two years [99].")
    answer = qa.ask("Do juvenile fish grow faster in warm tide pools?")
    assert "[7]" not in answer.text and "[99]" not in answer.text
    assert answer.text.startswith("Juvenile fish grow faster in warm tide pools [1].")
    keys = {c.key for c in answer.citations}
    assert keys <= {1, 2} and {c.paper_id for c in answer.citations} <= {"p-tides", "p-coral"}


def test_unmarked_copied_sentence_is_attributed_to_its_source(scripted):
    qa, _ = scripted("Juvenile fish grow faster in warm tide pools.")
    answer = qa.ask("Where do juvenile fish grow faster?")
    assert answer.text == "Juvenile fish grow faster in warm tide pools [1]."
    assert answer.citations[0].paper_id == "p-tides"
    assert answer.citations[0].sentences == ["Juvenile fish grow faster in warm tide pools."]


def test_unsupported_sentence_is_flagged_not_cited(scripted):
    qa, _ = scripted("Juvenile fish grow faster in warm tide pools [1]. Quantum gravity explains everything.")
    answer = qa.ask("Where do juvenile fish grow faster?")
    assert answer.uncited_sentences == ["Quantum gravity explains everything."]
    assert [c.paper_id for c in answer.citations] == ["p-tides"]


def test_copied_source_header_is_turned_into_a_citation(scripted):
    qa, llm = scripted("")
    hits_prompt_title = "Tide pools as nurseries"
    llm.replies = [f"[1] {hits_prompt_title}: Juvenile fish grow faster in warm tide pools."]
    answer = qa.ask("Where do juvenile fish grow faster?")
    assert answer.text == "Juvenile fish grow faster in warm tide pools [1]."


def test_model_decline_is_reported_as_not_answerable(scripted):
    qa, _ = scripted(DECLINE)
    answer = qa.ask("Do juvenile fish grow in tide pools?")
    assert (answer.answerable, answer.text, answer.citations) == (False, DECLINE, [])


def test_weak_evidence_is_declined_without_asking_the_model(tmp_path):
    llm = ScriptedLLM()
    qa = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm, min_relevance=0.5)
    qa.ingest_papers(PAPERS)
    answer = qa.ask("zebra saxophone mortgage")
    assert answer.text == DECLINE and not answer.answerable and llm.prompts == []


def test_stream_yields_tokens_then_the_answer(scripted):
    qa, llm = scripted("Coral bleaching follows marine heatwaves [2].")
    events = list(qa.stream("What follows marine heatwaves?"))
    assert all(isinstance(e, str) for e in events[:-1]) and len(events) > 3
    assert isinstance(events[-1], Answer)
    assert "".join(events[:-1]) == "Coral bleaching follows marine heatwaves [2]."
    prompt = llm.prompts[0][1]["content"]
    assert "Question: What follows marine heatwaves?" in prompt and "] Coral bleaching and heat" in prompt


def test_missing_model_names_the_fix(tmp_path):
    qa = PaperQA(data_dir=tmp_path / "d", model="qwen2.5-coder-1.5b", models_dir=tmp_path / "empty")
    with pytest.raises(ModelError, match="models pull"):
        qa.llm


def test_corrupt_model_names_the_fix(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 64)
    with pytest.raises(ModelError, match="not a GGUF"):
        PaperQA(data_dir=tmp_path / "d", model=str(bad)).llm
    with pytest.raises(ModelError, match="no model 'nothing-here.gguf'"):
        PaperQA(data_dir=tmp_path / "d", model="nothing-here.gguf").llm


# ---- the real bundled model (0.5B, through llama.cpp) over the real seeds index ----

@pytest.mark.slow
def test_seeds_question_cites_the_right_paper(seeds_qa):
    answer = seeds_qa.ask("Which system recommends mitigation actions for unhealthy nodes in cloud infrastructure?")
    assert answer.answerable
    assert DEOXYS in [c.title for c in answer.citations]
    retrieved = {hit.paper_id for hit in answer.contexts}
    assert all(c.paper_id in retrieved for c in answer.citations)
    assert answer.prompt_tokens > 50 and answer.completion_tokens > 3
    assert answer.timings["ttft_ms"] > 0


@pytest.mark.slow
def test_off_corpus_question_is_declined(seeds_qa):
    answer = seeds_qa.ask("How long should sourdough bread proof before baking?")
    assert not answer.answerable and answer.text == DECLINE and answer.citations == []


@pytest.mark.slow
def test_cli_ask_json_and_batch(seeds_dir, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": "What is the H2O heavy-hitter oracle used for?"}) + "\n"
                         + json.dumps({"id": "q2", "question": "What is the capital city of Australia?"}) + "\n")
    out = tmp_path / "a.jsonl"
    run = subprocess.run([sys.executable, "-m", "paperqa_local", "--data-dir", str(seeds_dir), "ask", "--model", "fast",
                          "--questions", str(questions), "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2"]
    assert rows[0]["answerable"] and rows[0]["citations"][0]["title"].startswith("H2O: Heavy-Hitter Oracle")
    assert set(rows[0]) >= {"id", "question", "answer", "answerable", "citations", "timings", "prompt_tokens", "completion_tokens"}
    assert set(rows[0]["timings"]) == {"retrieve_ms", "ttft_ms", "total_ms"}
    assert not rows[1]["answerable"] and rows[1]["citations"] == []
    missing = subprocess.run([sys.executable, "-m", "paperqa_local", "--data-dir", str(seeds_dir), "ask", "hi", "--model",
                              "no-such.gguf"], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "drop a .gguf into" in missing.stderr

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
    # markers are held back while streaming: only verified ones are shown, in the final answer
    assert "".join(events[:-1]) == "Coral bleaching follows marine heatwaves."
    assert events[-1].text.startswith("Coral bleaching follows marine heatwaves [")
    assert [c.paper_id for c in events[-1].citations] == ["p-coral"]
    prompt = llm.prompts[0][-1]["content"]
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


# ---- verification of figures, declining, follow-ups (scripted model) ----

FIGURE_PAPERS = [
    Paper("p-tides", "TideNet: Tide pools as nurseries", "TideNet counts juvenile fish in tide pools. Juvenile fish grow 2.5x faster in warm tide pools."),
    Paper("p-coral", "ReefWatch: Coral bleaching and heat", "ReefWatch tracks coral bleaching in tide pools and reefs. Bleaching fell by 40% where pools were shaded."),
]


class DecliningLLM(ScriptedLLM):
    """A scripted model that also gives the log-probability of starting with the decline, as llama.cpp does."""

    def __init__(self, decline_logprob, *replies):
        super().__init__(*replies)
        self.decline_logprob, self.forbidden, self.prefixes = decline_logprob, [], []

    def score_options(self, messages, options, prefix=""):
        return [self.decline_logprob for _ in options]

    def stream_chat(self, messages, generation, max_tokens=256, temperature=0.0, stop=None, prefix="", forbid_first=None):
        self.forbidden.append(forbid_first)
        self.prefixes.append(prefix)
        yield from super().stream_chat(messages, generation, max_tokens, temperature, stop)


@pytest.fixture
def figure_qa(tmp_path, monkeypatch):
    from paperqa_local import evidence

    monkeypatch.setattr(evidence, "RELATIVE_GATE", 1.0)  # both papers are sources

    def make(llm):
        qa = PaperQA(data_dir=tmp_path / "f", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm, min_relevance=0.05)
        qa.ingest_papers(FIGURE_PAPERS)
        return qa
    return make


def test_a_figure_from_one_source_is_never_left_cited_to_another(figure_qa):
    qa = figure_qa(ScriptedLLM("Shade cut bleaching by 40% [1]. TideNet fish grow 40% faster [2]."))
    answer = qa.ask("How much does shade help corals in tide pools?")
    coral = next(c.key for c in answer.citations if c.paper_id == "p-coral")
    # re-cited to the paper that gives 40%, and named, since the answer did not name it
    assert f"ReefWatch reports that shade cut bleaching by 40% [{coral}]." in answer.text
    assert "TideNet fish grow 40%" not in answer.text  # TideNet's sentence with ReefWatch's figure is cut
    assert any("40 (from another paper)" in d for d in answer.dropped)


def test_an_invented_figure_is_cut_from_the_answer(figure_qa):
    qa = figure_qa(ScriptedLLM("TideNet counts juvenile fish in tide pools, reaching 97.3% accuracy [1]."))
    answer = qa.ask("How well does TideNet count juvenile fish in tide pools?")
    assert "97.3" not in answer.text and answer.text.startswith("TideNet counts juvenile fish in tide pools [")
    assert answer.dropped == ["97.3 (in no retrieved source)"]


def test_relevant_sources_forbid_the_decline_and_weak_ones_allow_it(figure_qa):
    llm = DecliningLLM(-0.1, " shows juvenile fish grow 2.5x faster in warm tide pools.")
    qa = figure_qa(llm)
    answer = qa.ask("Do juvenile fish grow faster in warm tide pools?")  # relevance far above the calibrated line
    assert answer.answerable and llm.forbidden == [["Cannot"]]
    # the answer continues from the best-ranked paper's name, given as the start of the model's reply
    assert llm.prefixes == ["TideNet [1]"]
    assert answer.text == "TideNet shows juvenile fish grow 2.5x faster in warm tide pools [1]."
    answer = qa.ask("zebra tide mortgage saxophone")  # weak evidence, and the model would decline: declined unasked
    assert not answer.answerable and answer.text == DECLINE and len(llm.forbidden) == 1
    assert answer.signals["decline_logprob"] == -0.1


def test_a_near_certain_decline_is_taken_a_little_above_the_answer_line():
    from paperqa_local.models import AnswerCalibration

    calibration = AnswerCalibration(0.45, -2.5, 0.36, doubt_relevance=0.5, doubt_logprob=-1.5)
    assert calibration.declines(-1.0, 0.48) and not calibration.declines(-2.0, 0.48)  # only a near-certain decline
    assert not calibration.declines(-0.1, 0.52)  # above the doubt line the sources are answered
    assert calibration.declines(-2.0, 0.44) and calibration.declines(-9.0, 0.3)
    assert not AnswerCalibration(0.36, 0.0, 0.36).declines(-0.1, 0.4)  # no doubt line: the 0.5B's


def test_a_follow_up_sees_the_previous_answer_and_keeps_its_papers(figure_qa):
    llm = ScriptedLLM("ReefWatch tracks coral bleaching [1].", "Bleaching fell by 40% where pools were shaded [1].")
    qa = figure_qa(llm)
    first = qa.ask("Which tool tracks coral bleaching?")
    second = qa.ask("How much did shading help?", history=[first])
    prompt = llm.prompts[1][-1]["content"]
    assert "Earlier question: Which tool tracks coral bleaching?" in prompt and "Follow-up question: How much did shading help?" in prompt
    assert "p-coral" in {hit.paper_id for hit in second.contexts}
    assert [c.paper_id for c in second.citations] == ["p-coral"] and "40%" in second.text


def test_a_not_reported_part_is_kept_uncited_and_first_person_is_rewritten(figure_qa):
    qa = figure_qa(ScriptedLLM("We count juvenile fish in tide pools [1]. The abstract does not report the cost."))
    answer = qa.ask("How does TideNet count juvenile fish, and what does it cost?")
    assert answer.text.startswith("The authors of TideNet count juvenile fish in tide pools [")
    assert answer.text.endswith("The abstract does not report the cost.") and answer.uncited_sentences == []


def test_an_asked_figure_the_answer_left_out_is_taken_from_the_cited_source(figure_qa):
    qa = figure_qa(ScriptedLLM("TideNet counts juvenile fish in tide pools [1]."))
    answer = qa.ask("How much faster do juvenile fish grow in warm tide pools?")
    assert answer.text == ("TideNet counts juvenile fish in tide pools [1]. "
                           "Juvenile fish grow 2.5x faster in warm tide pools [1].")
    assert [c.paper_id for c in answer.citations] == ["p-tides"]


def test_an_asked_figure_no_cited_source_gives_is_said_to_be_not_reported(figure_qa):
    qa = figure_qa(ScriptedLLM("TideNet counts juvenile fish in tide pools [1]."))
    answer = qa.ask("How many hours of video did TideNet need to count juvenile fish in tide pools?")
    assert answer.text.endswith("[1]. The cited abstracts do not report how many hours.")
    assert answer.answerable


def test_a_sentence_keeps_only_the_sources_that_say_it(figure_qa):
    qa = figure_qa(ScriptedLLM("TideNet counts juvenile fish in tide pools [1][2]."))
    answer = qa.ask("Which tool counts juvenile fish in tide pools?")
    assert [c.paper_id for c in answer.citations] == ["p-tides"] and "[2]" not in answer.text


def test_a_not_reported_sentence_repeating_the_questions_figure_stays_a_note(figure_qa):
    qa = figure_qa(ScriptedLLM("TideNet counts juvenile fish in tide pools [1]. The abstract does not mention Llama Guard 3 [2]."))
    answer = qa.ask("Is TideNet, which counts juvenile fish in tide pools, compared with Llama Guard 3?")
    assert answer.text.endswith("[1]. The abstract does not mention Llama Guard 3.")
    assert [c.paper_id for c in answer.citations] == ["p-tides"]


def test_an_answer_that_only_says_what_is_missing_gets_what_the_best_paper_does_say(figure_qa):
    qa = figure_qa(ScriptedLLM("TideNet [1] does not report what the counting costs."))
    answer = qa.ask("How does TideNet count juvenile fish in tide pools, and what does the counting cost?")
    assert answer.answerable and [c.paper_id for c in answer.citations] == ["p-tides"]
    said, note = answer.text.split(" [1]. ")
    assert said in ("TideNet counts juvenile fish in tide pools", "According to TideNet, juvenile fish grow 2.5x faster in warm tide pools")
    assert note == "TideNet does not report what the counting costs."


def test_a_name_from_the_question_that_no_source_holds_is_never_stated_as_cited(figure_qa):
    qa = figure_qa(ScriptedLLM("TideNet counts juvenile fish on an H100 GPU [1]."))
    answer = qa.ask("Did TideNet count juvenile fish in tide pools on an H100?")
    assert "H100 GPU [1]" not in answer.text and answer.text.endswith("The cited abstracts do not mention H100.")
    assert any("H100: in no retrieved source" in d for d in answer.dropped)


def test_names_the_question_asks_about_and_no_source_mentions_are_said_to_be_missing(figure_qa):
    qa = figure_qa(ScriptedLLM("TideNet counts juvenile fish in tide pools [1].", "TideNet counts juvenile fish [1]."))
    answer = qa.ask("Does TideNet count juvenile fish with a detector from the YOLO, DETR or RetinaNet family?")
    assert answer.text == ("TideNet counts juvenile fish in tide pools [1]. "
                           "The cited abstracts do not mention YOLO, DETR or RetinaNet.")
    compared = qa.ask("Is TideNet faster than YOLO at counting juvenile fish in tide pools?")
    assert "YOLO" not in compared.text  # a name the question only compares with is not what it asks about


def test_a_note_that_an_added_sentence_answers_is_dropped(figure_qa):
    qa = figure_qa(ScriptedLLM("TideNet counts juvenile fish in tide pools [1]. The abstract does not report how much faster they grow."))
    answer = qa.ask("How much faster do juvenile fish grow in warm tide pools?")
    assert answer.text == ("TideNet counts juvenile fish in tide pools [1]. "
                           "Juvenile fish grow 2.5x faster in warm tide pools [1].")


def test_a_release_that_no_cited_source_speaks_of_is_left_out_and_said_to_be_unknown(figure_qa):
    from paperqa_local.asks import RELEASE_NOTE

    qa = figure_qa(ScriptedLLM("TideNet counts juvenile fish in tide pools [1]. Its weights have been released [1]."))
    answer = qa.ask("Does TideNet count juvenile fish in tide pools, and have its weights been released?")
    assert answer.text == f"TideNet counts juvenile fish in tide pools [1]. {RELEASE_NOTE}"
    assert [c.paper_id for c in answer.citations] == ["p-tides"]


def test_a_question_about_one_thing_sends_only_the_paper_far_ahead(figure_qa):
    import dataclasses

    from paperqa_local.evidence import select_evidence

    qa = figure_qa(ScriptedLLM())
    tides, coral = qa.paper_hits(["p-tides", "p-coral"])
    hits = [dataclasses.replace(tides, score=1.0), dataclasses.replace(coral, score=0.7)]
    one = select_evidence(qa, "Is there a tool that counts juvenile fish in tide pools?", hits, 400)
    several = select_evidence(qa, "What are the approaches to counting juvenile fish in tide pools?", hits, 400)
    assert [s.hit.paper_id for s in one] == ["p-tides"]
    assert [s.hit.paper_id for s in several] == ["p-tides", "p-coral"]
    hits[1] = dataclasses.replace(coral, score=0.85)  # close behind the best: a source either way
    assert len(select_evidence(qa, "Is there a tool that counts juvenile fish in tide pools?", hits, 400)) == 2


def test_a_question_for_several_approaches_hears_from_every_source(figure_qa):
    import dataclasses

    from paperqa_local.answer import finish
    from paperqa_local.evidence import select_evidence

    qa = figure_qa(ScriptedLLM())
    tides, coral = qa.paper_hits(["p-tides", "p-coral"])
    hits = [dataclasses.replace(tides, score=1.0), dataclasses.replace(coral, score=0.7)]
    question = "What are the approaches to watching tide pools?"
    sources = select_evidence(qa, question, hits, 400)
    answer = Answer(question=question, text="", answerable=False)
    finish(qa, answer, "TideNet counts juvenile fish in tide pools [1].", sources, question)
    assert [c.paper_id for c in answer.citations] == ["p-tides", "p-coral"]
    assert answer.text.startswith("TideNet counts juvenile fish in tide pools [1]. ReefWatch")
    assert answer.text.endswith("[2].")


# ---- the real 0.5B over the real seeds: figures, near-misses, half-answerable questions (dev-split questions) ----

def _cited_figures_are_in_their_papers(qa, answer) -> list[str]:
    """Figures of cited sentences that none of the sentence's cited papers contains (the eval's own reader)."""
    from paperqa_local.eval.seeds import _claim_sentences, answer_numbers, source_numbers

    texts = qa.paper_texts([c.paper_id for c in answer.citations])
    by_key = {c.key: c for c in answer.citations}
    bad = []
    for sentence, keys in _claim_sentences(answer):
        have = set().union(set(), *(source_numbers(texts[by_key[k].paper_id] + " " + by_key[k].title) for k in keys))
        bad += [n for n in answer_numbers(sentence) if keys and n not in have]
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("question", [
    "If you merge similar keys in the KV cache into centroids during long-context generation, how much cache memory "
    "do you save, and what decoding speedup comes with it?",
    "We're weighing a SambaNova box for hosting a pile of specialist models. How much quicker than Nvidia's DGX machines is it?",
    "I'm surveying speculative decoding variants: ones that need no extra draft network, ones that make the draft tree "
    "more diverse, and ones that split drafting and checking between GPU and CPU. What's out there, and how fast are they?",
])
def test_real_model_never_cites_a_figure_to_a_paper_without_it(seeds_qa, question):
    answer = seeds_qa.ask(question)
    assert _cited_figures_are_in_their_papers(seeds_qa, answer) == [], answer.text


@pytest.mark.slow
def test_real_model_says_not_reported_or_declines_a_near_miss(seeds_qa):
    from paperqa_local.answer import NOT_REPORTED

    answer = seeds_qa.ask("How many parameters does the largest PaLM 2 model have, and how many tokens was it trained on?")
    assert not answer.answerable or NOT_REPORTED.search(answer.text), answer.text
    assert _cited_figures_are_in_their_papers(seeds_qa, answer) == []


@pytest.mark.slow
def test_real_model_answers_the_answerable_half_of_a_two_part_question(seeds_qa):
    answer = seeds_qa.ask("Which system picks mitigation actions for failing cloud nodes with causal inference, "
                          "and how many engineers did it take to build?")
    assert answer.answerable and DEOXYS in [c.title for c in answer.citations], answer.text


@pytest.mark.slow
def test_two_paperqa_objects_asking_at_once_share_the_model_safely(seeds_dir):
    """One cached llama.cpp model, two facades, two threads: both answered, neither crashed nor mixed."""
    import threading

    first, second = PaperQA(data_dir=seeds_dir, model="fast"), PaperQA(data_dir=seeds_dir, model="fast")
    questions = {"deoxys": "Which system picks mitigation actions for unhealthy cloud nodes?",
                 "h2o": "Which method keeps only heavy-hitter tokens in the KV cache?"}
    answers, errors = {}, []

    def ask(name, qa):
        try:
            answers[name] = qa.ask(questions[name])
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=("deoxys", first)), threading.Thread(target=ask, args=("h2o", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors and first.llm is second.llm
    assert DEOXYS in [c.title for c in answers["deoxys"].citations]
    assert any(c.title.startswith("H2O") for c in answers["h2o"].citations)

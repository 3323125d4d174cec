"""Evidence selection: every part of the question covered, within the budget, sources in retrieval order."""

from paperqa_local import PaperQA
from paperqa_local.evidence import clauses, clean_latex, render_sources, select_evidence
from paperqa_local.types import Paper

from .conftest import HashEmbedder

FILLER = " ".join(f"Unrelated sentence number {n} about harbour logistics." for n in range(12))
PAPERS = [
    Paper("p-valve", "ValveNet: Pressure valves for pipelines",
          f"ValveNet predicts pressure valve failures in pipelines. {FILLER} Maintenance cost fell by 31% in pipelines."),
    Paper("p-other", "Harbour cranes", f"Harbour cranes move containers. {FILLER}"),
]


def make_qa(tmp_path):
    qa = PaperQA(data_dir=tmp_path / "e", embedder=HashEmbedder(), embedding_model="hash-test")
    qa.ingest_papers(PAPERS)
    return qa


def test_two_part_question_gets_a_sentence_for_each_part_within_the_budget(tmp_path):
    qa = make_qa(tmp_path)
    question = "How does ValveNet predict pressure valve failures in pipelines, and how much did maintenance cost fall?"
    assert len(clauses(question)) == 2
    sources = select_evidence(qa, question, qa.search(question), budget_tokens=60)
    valve = next(s for s in sources if s.hit.paper_id == "p-valve")
    assert "ValveNet predicts pressure valve failures in pipelines." in valve.sentences
    assert "Maintenance cost fell by 31% in pipelines." in valve.sentences
    shown = render_sources(sources)
    assert len(shown) // 4 <= 60 + 40  # the budget, plus titles and numbering
    assert shown.startswith("[1] ValveNet: Pressure valves for pipelines: ") and " … " in shown


def test_latex_left_in_listings_is_cleaned():
    assert clean_latex(r"3.72$\sim$4.11$\times$ faster, 50\% less") == "3.72~4.11× faster, 50% less"


def test_a_paper_whose_own_method_the_question_names_comes_first_and_alone(tmp_path):
    import dataclasses

    from paperqa_local.evidence import own_names, subjects

    assert own_names("A Recurrent Model", "We propose a predictive recurrent network (PV-RNN). It learns.") == ["PV-RNN"]
    assert own_names("ORBIT: A Benchmark", "Models reason about objects (CNNs) on it.") == ["ORBIT"]
    assert subjects("Is there a lighter alternative to ValveNet for harbours?") == []  # only compared with
    qa = make_qa(tmp_path)
    valve, other = qa.paper_hits(["p-valve", "p-other"])
    hits = [dataclasses.replace(other, score=1.0), dataclasses.replace(valve, score=0.9)]
    sources = select_evidence(qa, "Which harbour cranes did ValveNet get tested on?", hits, 400)
    assert [s.hit.paper_id for s in sources] == ["p-valve"]
    assert [s.hit.paper_id for s in select_evidence(qa, "Which harbour cranes move containers?", hits, 400)][0] == "p-other"

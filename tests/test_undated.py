"""A year filter and papers without a year: left out by default, kept with `include_undated` (real Chroma, the
hashing embedder), and the note that says how many were hidden."""

import pytest

from paperqa_local.types import Paper

PAPERS = [
    Paper("p-old", "Tide pools as fish nurseries in 2015", "Juvenile fish shelter in tide pools.", year=2015),
    Paper("p-new", "Tide pools and juvenile fish counts", "We count juvenile fish in tide pools each spring.",
          year=2023),
    Paper("p-undated", "Juvenile fish in tide pools, undated", "Tide pools hold many juvenile fish.", date="Aug 12"),
    Paper("p-coral", "Coral bleaching after heatwaves", "Reefs bleach when the sea is hot."),
]
QUERY = "juvenile fish in tide pools"


@pytest.fixture
def qa(hash_qa):
    hash_qa.ingest_papers(PAPERS)
    return hash_qa


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_year_filter_hides_undated_papers_unless_asked(qa, mode):
    default = {hit.paper_id for hit in qa.search(QUERY, k=4, year_from=2020, mode=mode)}
    assert default == {"p-new"}
    kept = {hit.paper_id: hit for hit in qa.search(QUERY, k=4, year_from=2020, mode=mode, include_undated=True)}
    assert "p-new" in kept and "p-undated" in kept
    assert "p-old" not in kept  # a dated paper out of range stays out
    assert kept["p-undated"].year in (None, 0)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_year_to_with_undated(qa, mode):
    kept = {hit.paper_id for hit in qa.search(QUERY, k=4, year_to=2018, mode=mode, include_undated=True)}
    assert "p-old" in kept and "p-undated" in kept and "p-new" not in kept
    assert {hit.paper_id for hit in qa.search(QUERY, k=4, year_to=2018, mode=mode)} == {"p-old"}


def test_without_a_year_filter_include_undated_changes_nothing(qa):
    plain = [hit.paper_id for hit in qa.search(QUERY, k=4)]
    assert [hit.paper_id for hit in qa.search(QUERY, k=4, include_undated=True)] == plain
    assert "p-undated" in plain


def test_answer_hits_pass_include_undated(qa):
    assert "p-undated" not in {h.paper_id for h in qa.answer_hits(QUERY, k=4, year_from=2020)}
    assert "p-undated" in {h.paper_id for h in qa.answer_hits(QUERY, k=4, year_from=2020, include_undated=True)}


def test_undated_count(qa, hash_qa):
    assert qa.undated_count() == 2  # p-undated and p-coral
    qa.remove(["p-coral"])
    assert qa.undated_count() == 1


def test_undated_note(qa):
    from paperqa_local.ui.render import undated_note
    from paperqa_local.ui.shared import Library

    shared = Library(qa)  # each library's own count
    note = shared.undated_note(2020, None, False)
    assert note.startswith("2 papers without a year hidden")
    assert "Include papers without a year" in note
    assert shared.undated_note(2020, None, True) == ""
    assert shared.undated_note(None, None, False) == ""
    assert undated_note(0) == ""
    assert undated_note(1).startswith("1 paper without a year hidden")


def test_ask_passes_include_undated_to_its_search(tmp_path):
    from paperqa_local import PaperQA

    from .conftest import HashEmbedder, ScriptedLLM

    reply = "Juvenile fish shelter in tide pools [1]."
    qa = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test",
                 llm=ScriptedLLM(reply, reply), min_relevance=0.1)
    qa.ingest_papers(PAPERS)
    question = "Do juvenile fish shelter in tide pools?"
    assert "p-undated" not in {h.paper_id for h in qa.ask(question, k=4, year_from=2020).contexts}
    assert "p-undated" in {h.paper_id for h in qa.ask(question, k=4, year_from=2020, include_undated=True).contexts}

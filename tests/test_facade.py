"""What the UI asks of the `PaperQA` facade instead of reaching past it (models, slots, vectors, relevance)."""

import pytest

from paperqa_local import PaperQA
from paperqa_local.errors import PaperQAError
from paperqa_local.types import Paper

from .conftest import HashEmbedder

PAPERS = [Paper("p-tides", "TideNet: Tide pools as nurseries", "TideNet counts juvenile fish in tide pools."),
          Paper("p-coral", "ReefWatch: Coral bleaching and heat", "ReefWatch tracks coral bleaching after heatwaves.")]


@pytest.fixture
def qa(tmp_path):
    qa = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test")
    qa.ingest_papers(PAPERS)
    return qa


def test_a_model_without_a_file_is_refused_with_the_fix_and_nothing_changes(qa):
    before = qa.settings.model
    with pytest.raises(PaperQAError, match="no-such.gguf"):
        qa.use_model("no-such.gguf")
    assert qa.settings.model == before
    assert [value for _, value in qa.models()][:2] == ["default", "fast"]


def test_answers_at_once_are_one_per_llm_server(tmp_path):
    assert PaperQA(data_dir=tmp_path / "a").answer_slots() == 1
    assert PaperQA(data_dir=tmp_path / "b", llm_base_url="http://127.0.0.1:8081,http://127.0.0.1:8082").answer_slots() == 2


def test_paper_vectors_and_relevance_come_from_the_facade(qa):
    ids, vectors, metadatas = qa.paper_vectors()
    assert sorted(ids) == ["p-coral#0", "p-tides#0"] and len(vectors) == 2
    hits = qa.search("juvenile fish in tide pools", k=2)
    assert qa.relevance("juvenile fish in tide pools", hits) > qa.relevance("saxophone mortgage zebra", hits)
    assert qa.relevance("anything", []) == 0.0
    assert qa.answer_hits("juvenile fish in tide pools", k=1)[0].paper_id == "p-tides"

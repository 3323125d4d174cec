"""What the UI asks of the `PaperQA` facade instead of reaching past it (models, slots, vectors, relevance)."""

import pytest

from paperqa_local import PaperQA
from paperqa_local.errors import ConfigError, PaperQAError, StoreError
from paperqa_local.types import Paper

from .conftest import HashEmbedder, ScriptedLLM

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
    assert PaperQA(data_dir=tmp_path / "c", llm_base_url="http://127.0.0.1:8081", llm_slots=4).answer_slots() == 4


def test_paper_vectors_and_relevance_come_from_the_facade(qa):
    ids, vectors, metadatas = qa.paper_vectors()
    assert sorted(ids) == ["p-coral#0", "p-tides#0"] and len(vectors) == 2
    hits = qa.search("juvenile fish in tide pools", k=2)
    assert qa.relevance("juvenile fish in tide pools", hits) > qa.relevance("saxophone mortgage zebra", hits)
    assert qa.relevance("anything", []) == 0.0
    assert qa.answer_hits("juvenile fish in tide pools", k=1)[0].paper_id == "p-tides"


def test_libraries_of_one_data_directory_are_listed_and_switched_sharing_the_loaded_models(tmp_path):
    llm = ScriptedLLM()
    qa = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm)
    assert qa.collections() == [] and not (tmp_path / "d" / "store").exists()  # listing creates nothing
    qa.ingest_papers(PAPERS)
    stars = qa.with_collection("stars-2024")
    assert stars.llm is llm and stars.embedder is qa.embedder  # nothing loaded again
    assert (stars.settings.collection, stars.settings.home) == ("stars-2024", qa.settings.home)
    assert qa.collections() == [{"name": "papers", "papers": 2}, {"name": "stars-2024", "papers": 0}]
    long_text = " ".join(f"Sentence {n} says the pulsar timing array heard a background hum." for n in range(60))
    stars.ingest_papers([Paper("p-pulsar", "PulsarHum: A gravitational-wave background", long_text)])
    assert stars.stats()["chunks"] > 1  # a paper of many chunks counts once
    assert qa.collections() == [{"name": "papers", "papers": 2}, {"name": "stars-2024", "papers": 1}]
    assert [hit.paper_id for hit in stars.search("juvenile fish in tide pools", k=5)] == ["p-pulsar"]
    assert {hit.paper_id for hit in qa.search("pulsar timing background hum", k=5)} == {"p-tides", "p-coral"}
    assert qa.with_collection("papers") is qa


@pytest.mark.parametrize("name", ["ab", "my library", "a..b", "10.0.0.1", "-papers", ""])
def test_a_library_name_chroma_refuses_is_an_error_with_the_rule_and_creates_nothing(qa, name):
    with pytest.raises(ConfigError, match=r"not a Chroma collection name — use 3 to 512 letters.*e\.g\. my-library"):
        qa.with_collection(name)
    assert [c["name"] for c in qa.collections()] == ["papers"]


def test_a_library_built_with_another_embedding_model_is_refused_with_the_fix(qa, tmp_path):
    other = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-other", collection="fresh")
    with pytest.raises(StoreError, match="built with embedding model 'hash-test'"):
        other.with_collection("papers")


def test_the_paper_listing_is_read_again_only_when_the_store_changed(tmp_path, monkeypatch):
    def facade():
        return PaperQA(data_dir=tmp_path / "l", embedder=HashEmbedder(), embedding_model="hash-test")

    qa, tides = facade(), Paper("p1", "Tide pools as nurseries", "Juvenile fish grow faster in warm tide pools.", year=2021)
    qa.ingest_papers([tides])
    assert [p["title"] for p in qa.papers()] == ["Tide pools as nurseries"]
    reads = []
    real_all = type(qa.store).all
    monkeypatch.setattr(type(qa.store), "all", lambda store, **kw: reads.append(1) or real_all(store, **kw))
    qa.papers()
    assert reads == []  # nothing changed: the listing is not read again
    # another process's write (here another object over the same folder): a venue added in place, a new paper
    tides.venue = "Marine Biology"
    facade().ingest_papers([tides, Paper("p2", "Coral bleaching and heat", "Bleaching fell where pools were shaded.")])
    listed = {p["paper_id"]: p for p in qa.papers()}
    assert reads and set(listed) == {"p1", "p2"} and listed["p1"]["venue"] == "Marine Biology"
    qa.remove("p2")
    assert [p["paper_id"] for p in qa.papers()] == ["p1"]

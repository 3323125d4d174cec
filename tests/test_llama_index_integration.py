"""llama-index both ways, through llama-index's own interfaces and real classes: its documents (and its
SimpleDirectoryReader's output) ingested; this index as a real BaseRetriever and a real BaseQueryEngine, the latter
inside a real QueryEngineTool. Unit tests use the hashing embedder and a scripted LLM over real Chroma; the slow
test asks the real 0.5B through the query engine."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core import Document, SimpleDirectoryReader
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore
from llama_index.core.tools import QueryEngineTool

from paperqa_local import PaperQA
from paperqa_local.answer import DECLINE
from paperqa_local.integrations.llama_index import PDFPageReader, response_of
from paperqa_local.types import Answer, Citation

from .conftest import HashEmbedder, ScriptedLLM
from .test_pdf import FACT, QUESTION, TITLE, pdfs, real_pdf_qa  # noqa: F401 - fixtures shared with the PDF tests

TIDES = Document(text="Tide pools shelter juvenile fish. Juvenile fish grow faster in warm tide pools.",
                 metadata={"title": "Tide pools as nurseries", "authors": ["Rosa Marin", "Ed Kahale"], "year": 2019,
                           "doi": "https://doi.org/10.1000/TIDES.1", "url": "https://example.org/tides"})
CORAL = Document(text="Coral bleaching follows marine heatwaves. Bleached corals recover within two years.",
                 metadata={"title": "Coral bleaching and heat", "author": "Ng, Li; Okafor, Ada", "date": "2021-03-04"})


def _qa(tmp_path, *replies: str) -> PaperQA:
    return PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test",
                   llm=ScriptedLLM(*replies), min_relevance=0.1)


def test_documents_are_ingested_with_their_metadata_as_paper_fields(tmp_path):
    qa = _qa(tmp_path)
    report = qa.ingest_documents([TIDES, CORAL, Document(text="   ", metadata={"title": "Empty"})])
    assert report.new_papers == 2 and [p.reason for p in report.problems] == ["no text in it; give documents with text"]
    papers = {paper["title"]: paper for paper in qa.papers()}
    tides, coral = papers["Tide pools as nurseries"], papers["Coral bleaching and heat"]
    assert (tides["paper_id"], tides["doi"], tides["year"], tides["authors"]) == (
        "doi:10.1000/tides.1", "10.1000/tides.1", 2019, ["Rosa Marin", "Ed Kahale"])
    assert tides["link"] == "https://doi.org/10.1000/tides.1"
    assert (coral["year"], coral["authors"], coral["byline"]) == (2021, ["Ng, Li", "Okafor, Ada"], "Ng and Okafor")
    assert qa.ingest_documents([TIDES, CORAL]).chunks_embedded == 0  # idempotent, as any ingest


def test_paged_documents_of_one_file_are_one_paper_whose_chunks_keep_page_label(tmp_path):
    qa = _qa(tmp_path)
    pages = [Document(text=f"Page {n} is about subject {n}. " * 3 + ("Lanthanum doping raised the critical temperature "
                      "to 93 kelvin." if n == 2 else ""), metadata={"file_name": "thesis.pdf", "page_label": str(n)})
             for n in (1, 2, 3)]
    qa.ingest_documents(pages)
    [paper] = qa.papers()
    assert paper["title"] == "Page 1 is about subject 1. Page 1 is about subject 1. Page 1 is about subject 1."
    [hit] = qa.search("lanthanum doping critical temperature kelvin", k=1)
    assert hit.page == 2 and "93 kelvin" in hit.text


def test_simple_directory_reader_output_of_a_real_pdf_is_ingested_with_pages(tmp_path, pdfs):
    documents = SimpleDirectoryReader(input_files=[str(pdfs["paper"])], file_extractor={".pdf": PDFPageReader()}).load_data()
    assert len(documents) == 5 and documents[2].metadata["page"] == 3 and documents[0].metadata["title"] == TITLE
    qa = _qa(tmp_path)
    assert qa.ingest_documents(documents).new_papers == 1
    [hit] = qa.search(QUESTION, k=1)
    assert (hit.title, hit.page) == (TITLE, 3)


def test_retriever_is_a_real_base_retriever_giving_one_node_per_paper(tmp_path, pdfs):
    qa = _qa(tmp_path)
    qa.ingest([pdfs["paper"]])
    qa.ingest_documents([TIDES, CORAL])
    retriever = qa.as_retriever(k=3)
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve(QUESTION)
    assert all(isinstance(node, NodeWithScore) for node in nodes) and len(nodes) == 3
    assert len({node.node.metadata["paper_id"] for node in nodes}) == 3  # papers, not chunks
    assert [node.score for node in nodes] == sorted((node.score for node in nodes), reverse=True)
    best = nodes[0]
    assert (best.node.metadata["title"], best.node.metadata["page"]) == (TITLE, 3) and "17 days" in best.node.get_content()
    tides = qa.as_retriever(k=1).retrieve("juvenile fish warm tide pools")[0].node
    assert tides.metadata["link"] == "https://doi.org/10.1000/tides.1" and "page" not in tides.metadata


def test_query_engine_response_is_the_verified_answer_with_the_cited_page(tmp_path, pdfs):
    qa = _qa(tmp_path, f"{FACT} [1]", DECLINE)
    qa.ingest([pdfs["paper"]])
    qa.ingest_documents([TIDES, CORAL])
    engine = qa.as_query_engine(k=3)
    assert isinstance(engine, BaseQueryEngine)
    response = engine.query(QUESTION)
    assert isinstance(response, Response) and response.metadata["answerable"] is True
    assert str(response) == response.response and response.response.endswith("in 17 days, against 29 days in untreated controls [1].")
    [node] = response.source_nodes
    assert (node.node.metadata["title"], node.node.metadata["page"], node.node.metadata["key"]) == (TITLE, 3, 1)
    assert node.node.get_content() == FACT and node.score is not None
    declined = engine.query(QUESTION)  # the model declines: nothing cited, no source nodes
    assert (declined.response, declined.source_nodes, declined.metadata["answerable"]) == (DECLINE, [], False)


def test_source_nodes_follow_the_citation_order_with_pages():
    cited = [Citation(1, "p-b", "Second paper", 2020, ["What B says."], 0.9, page=7),
             Citation(2, "p-a", "First paper", 2019, ["What A says."], 0.4, authors=["Ng, Li"], doi="10.1/a")]
    response = response_of(Answer("q?", "B says this [1]. A says that [2].", True, citations=cited))
    nodes = [(n.node.metadata["key"], n.node.metadata["title"], n.node.metadata.get("page"), n.node.get_content(), n.score)
             for n in response.source_nodes]
    assert nodes == [(1, "Second paper", 7, "What B says.", 0.9), (2, "First paper", None, "What A says.", 0.4)]
    assert response.source_nodes[1].node.metadata["doi"] == "10.1/a" and str(response) == "B says this [1]. A says that [2]."
    assert response.metadata["references"].splitlines()[0] == "[1] Second paper (2020), p. 7"


def test_query_engine_works_as_a_query_engine_tool(tmp_path):
    qa = _qa(tmp_path, *["Bleached corals recover within two years [1]."] * 3)
    qa.ingest_documents([TIDES, CORAL])
    answer = qa.ask("How fast do bleached corals recover?")
    assert answer.answerable and "[1]" in answer.text
    tool = QueryEngineTool.from_defaults(query_engine=qa.as_query_engine(), name="papers",
                                         description="Answers questions from the indexed papers, with citations.")
    output = tool("How fast do bleached corals recover?")
    assert output.content == answer.text and output.tool_name == "papers"
    assert output.raw_output.source_nodes[0].node.metadata["title"] == "Coral bleaching and heat"
    again = asyncio.run(tool.acall("How fast do bleached corals recover?"))
    assert again.content == output.content


@pytest.mark.slow
def test_real_model_through_the_query_engine_tool_cites_page_3(real_pdf_qa):
    tool = QueryEngineTool.from_defaults(query_engine=real_pdf_qa.as_query_engine(), name="papers",
                                         description="Answers questions from the indexed papers, with citations.")
    output = tool(QUESTION)
    response = output.raw_output
    assert output.content == response.response and "17" in output.content, output.content
    cited = [(node.node.metadata["title"], node.node.metadata.get("page")) for node in response.source_nodes]
    assert (TITLE, 3) in cited, cited

"""Reference-manager exports (.bib, .ris), the library (`papers list` / `papers remove`) and the references of an
answer (authors, venue, link, BibTeX). Real Chroma on disk, the hashing embedder, a scripted LLM."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paperqa_local import PaperQA, cli
from paperqa_local.sources import parse_file, parse_paths
from paperqa_local.sources.bibtex import NO_ABSTRACT, latex_to_text
from paperqa_local.types import Answer, Citation, Paper, SearchHit

from .conftest import DEOXYS, ROOT, SEEDS, HashEmbedder, ScriptedLLM

DATA = ROOT / "tests" / "data"
ZOTERO, SCHOLAR, ENDNOTE = DATA / "zotero_library.bib", DATA / "google_scholar.bib", DATA / "endnote_export.ris"


def _qa(path, **options):
    return PaperQA(data_dir=path, embedder=HashEmbedder(), embedding_model="hash-test", **options)


def _by_title(result):
    return {paper.title: paper for paper in result.papers}


# ---- BibTeX -------------------------------------------------------------------------------------------------------

def test_zotero_bib_fields_and_latex():
    result = parse_file(ZOTERO)
    papers = _by_title(result)
    assert len(result.papers) == 7
    vaswani = papers["Attention is All you Need"]  # {All} and {Need}: braces gone, case kept
    assert vaswani.authors[0] == "Vaswani, Ashish" and "Kaiser, Łukasz" in vaswani.authors and len(vaswani.authors) == 8
    assert (vaswani.year, vaswani.venue, vaswani.entry_type) == (2017, "Advances in Neural Information Processing Systems",
                                                                  "inproceedings")
    assert vaswani.keywords == ["attention", "machine translation", "transformers"]
    assert vaswani.abstract.endswith("28.4 BLEU on the WMT 2014 English–German translation task.")  # -- and {BLEU}
    causal = papers["Toward Causal Representation Learning"]
    assert causal.paper_id == "doi:10.1109/jproc.2021.3058954" and causal.authors[0] == "Schölkopf, Bernhard"
    assert "is, thus, causal representation learning, that is" in causal.abstract  # \emph{…}
    assert causal.venue == "Proceedings of the IEEE"
    bert = papers["BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"]
    assert (bert.paper_id, bert.arxiv_id) == ("arxiv:1810.04805", "1810.04805")  # arXiv's DOI is the arXiv id
    assert "GLUE score to 80.5% (7.7% point" in bert.abstract  # \%
    ddpm = papers["Denoising Diffusion Probabilistic Models"]  # BibLaTeX: @online, date, eprinttype, eprint with version
    assert (ddpm.paper_id, ddpm.year, ddpm.entry_type) == ("arxiv:2006.11239", 2020, "misc")
    xlmr = papers["Unsupervised Cross-lingual Representation Learning at Scale"]
    assert "Guzmán, Francisco" in xlmr.authors and "dubbed XLM-R, significantly" in xlmr.abstract
    assert "Žídek, Augustin" in papers["Highly accurate protein structure prediction with AlphaFold"].authors
    assert not any("{" in p.title + p.abstract or "\\" in p.title + p.abstract for p in result.papers)


def test_entry_without_abstract_is_kept_and_reported_with_its_line_and_key():
    result = parse_file(ZOTERO)
    alphafold = _by_title(result)["Highly accurate protein structure prediction with AlphaFold"]
    assert alphafold.abstract == "" and alphafold.paper_id == "doi:10.1038/s41586-021-03819-2"
    assert alphafold.metadata()["no_abstract"] is True
    assert [(p.location, p.reason) for p in result.problems] == [
        ("line 44", f"entry 'jumperHighlyAccurateProtein2021': {NO_ABSTRACT}")]


def test_google_scholar_entries():
    result = parse_file(SCHOLAR)
    llama = _by_title(result)["Llama 2: Open foundation and fine-tuned chat models"]
    assert llama.paper_id == "arxiv:2307.09288"  # from journal={arXiv preprint arXiv:2307.09288}
    assert len(llama.authors) == 10 and "others" not in llama.authors  # "and others" is et al.
    assert _by_title(result)["Deep residual learning for image recognition"].venue.startswith("Proceedings of the IEEE")
    assert [p.location for p in result.problems] == ["line 1", "line 8"]
    assert all(NO_ABSTRACT in p.reason for p in result.problems)


def test_latex_cleaning():
    assert latex_to_text(r"H$_2$O: {Heavy}-Hitter $\alpha$-divergence and $\mathbf{x}$") == "H2O: Heavy-Hitter α-divergence and x"
    assert latex_to_text(r"Sch{\"o}lkopf \& M\"uller~et al. \emph{really} {GPU}s, pages 3--5, 50% off") == \
        "Schölkopf & Müller et al. really GPUs, pages 3–5, 50% off"
    assert latex_to_text("{" * 3000 + "deep") == "deep"  # nested past pylatexenc's recursion: braces dropped


def test_malformed_entries_cost_only_themselves(tmp_path):
    path = tmp_path / "mixed.bib"
    path.write_text(
        "@article{good1, title = {First good paper}, abstract = {About sponges.}, year = 2020}\n"
        "\n"
        "@article{broken,\n"
        "  title = {A brace that never closes,\n"
        "  year = 2021\n"
        "}\n"
        "@article{notitle, abstract = {Text without a title.}}\n"
        "@inproceedings{good2, title = \"Second good paper\", abstract = \"About corals.\", booktitle = {Proc. Reefs}}\n")
    result = parse_file(path)
    assert [p.title for p in result.papers] == ["First good paper", "Second good paper"]
    problems = [(p.location, p.reason) for p in result.problems]
    assert problems[0][0] == "line 3" and problems[0][1].startswith("unreadable BibTeX entry '@article{broken,'")
    assert ("line 7", "entry 'notitle': no title") in problems


def test_bib_and_jsonl_of_one_doi_or_arxiv_id_are_one_paper(tmp_path):
    (tmp_path / "mine.jsonl").write_text(
        json.dumps({"title": "Toward causal representation learning", "abstract": "Short abstract.",
                    "doi": "https://doi.org/10.1109/JPROC.2021.3058954"}) + "\n"
        + json.dumps({"title": "BERT", "abstract": "Pre-training.", "url": "https://arxiv.org/abs/1810.04805v2"}) + "\n")
    jsonl = {p.paper_id for p in parse_file(tmp_path / "mine.jsonl").papers}
    assert jsonl == {"doi:10.1109/jproc.2021.3058954", "arxiv:1810.04805"}
    assert jsonl <= {p.paper_id for p in parse_file(ZOTERO).papers}
    both = parse_paths([ZOTERO, tmp_path / "mine.jsonl"])
    assert len(both.papers) == 7 and both.duplicates == 2


# ---- RIS ----------------------------------------------------------------------------------------------------------

def test_endnote_and_zotero_ris_fields():
    result = parse_file(ENDNOTE)
    papers = _by_title(result)
    assert len(result.papers) == 4
    alphafold = papers["Highly accurate protein structure prediction with AlphaFold"]  # EndNote: T1, A1, Y1, N2, JF
    assert alphafold.abstract.startswith("Proteins are essential to life") and alphafold.year == 2021
    assert alphafold.authors[:2] == ["Jumper, John", "Evans, Richard"] and alphafold.venue == "Nature"
    assert alphafold.paper_id == "doi:10.1038/s41586-021-03819-2"
    assert alphafold.keywords == ["Protein structure predictions", "Machine learning"]
    gpt3 = papers["Language Models are Few-Shot Learners"]  # Zotero: TI, AU, T2, PY, AB, UR
    assert (gpt3.paper_id, gpt3.entry_type, gpt3.venue) == ("arxiv:2005.14165", "inproceedings",
                                                            "Advances in Neural Information Processing Systems")
    causal = papers["Toward Causal Representation Learning"]
    assert causal.abstract.endswith("benefit from the advances of the other. In this article, we review fundamental "
                                    "concepts of causal inference and relate them to crucial open problems of machine learning.")
    assert [(p.location, p.reason) for p in result.problems] == [
        ("line 39", f"'Mastering the game of Go without human knowledge': {NO_ABSTRACT}")]


def test_broken_ris_records_cost_only_themselves(tmp_path):
    path = tmp_path / "broken.ris"
    path.write_bytes(
        b"Exported from a tool\n"
        b"TY  - JOUR\nTI  - Kept although its ER is missing\nAB  - An abstract.\n"
        b"TY  - JOUR\nTI  - Bad bytes \xff here\nAB  - Dropped.\nER  - \n"
        b"TY  - JOUR\nAB  - No title.\nER  - \n"
        b"TY - JOUR\nTI - Written with single spaces\nAB - Still read.\nER -\n")
    result = parse_file(path)
    assert [p.title for p in result.papers] == ["Kept although its ER is missing", "Written with single spaces"]
    assert [(p.location, p.reason.split(";")[0].split(":")[0]) for p in result.problems] == [
        ("line 1", "text outside a record"), ("line 2", "the record here has no 'ER  - ' line before the next one (line 5)"),
        ("line 6", "not UTF-8 text"), ("line 9", "no title (TI or T1 line)")]
    assert all(p.source == str(path) for p in result.problems)


def test_bib_and_ris_of_one_paper_merge_and_the_abstract_is_kept():
    result = parse_paths([ZOTERO, ENDNOTE])
    alphafold = _by_title(result)["Highly accurate protein structure prediction with AlphaFold"]
    assert alphafold.abstract.startswith("Proteins are essential")  # the .bib entry had none, the .ris gave it
    assert alphafold.url == "https://www.nature.com/articles/s41586-021-03819-2"  # the first file's, kept
    assert len(result.papers) == 7 + 2 and result.duplicates == 2


# ---- the store ----------------------------------------------------------------------------------------------------

def test_reference_without_abstract_is_searchable_by_title_and_reingest_adds_nothing(tmp_path):
    qa = _qa(tmp_path / "d")
    first = qa.ingest([ZOTERO, SCHOLAR, ENDNOTE])
    assert (first.new_papers, first.parsed, first.duplicates) == (11, 13, 2)  # AlphaFold and Schölkopf et al. twice
    for mode in ("bm25", "dense"):
        assert qa.search("Llama 2 open foundation chat models", k=1, mode=mode)[0].paper_id == "arxiv:2307.09288"
    assert qa.search("Llama 2 open foundation chat models", k=1)[0].text == "Llama 2: Open foundation and fine-tuned chat models"
    again = qa.ingest([ZOTERO, SCHOLAR, ENDNOTE])
    assert (again.new_papers, again.updated_papers, again.unchanged_papers, again.chunks_embedded) == (0, 0, 11, 0)


def test_a_bib_entry_without_abstract_updates_a_stored_paper_and_takes_nothing(tmp_path):
    qa = _qa(tmp_path / "d")
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text(json.dumps({"title": "Highly accurate protein structure prediction with AlphaFold",
                                 "abstract": "AlphaFold predicts protein structures with atomic accuracy.",
                                 "authors": ["John Jumper"]}) + "\n"
                     + json.dumps({"title": "Attention Is All You Need", "abstract": "Transformers use attention only.",
                                   "doi": "10.9999/not-the-bib-one"}) + "\n")
    qa.ingest([jsonl])
    before = {record["title"].casefold(): record["paper_id"] for record in qa.papers()}
    report = qa.ingest([ZOTERO])  # AlphaFold: no abstract, matched by title; Attention: matched by title
    assert (report.new_papers, report.updated_papers) == (5, 2)
    records = {record["paper_id"]: record for record in qa.papers()}
    assert len(records) == 7
    alphafold = records[before["highly accurate protein structure prediction with alphafold"]]
    assert alphafold["abstract"] and alphafold["venue"] == "Nature" and alphafold["doi"] == "10.1038/s41586-021-03819-2"
    assert alphafold["authors"][0] == "Jumper, John"  # what the new record gives replaces
    assert qa.paper_texts([alphafold["paper_id"]])[alphafold["paper_id"]] == \
        "AlphaFold predicts protein structures with atomic accuracy."
    assert qa.ingest([ZOTERO]).unchanged_papers == 7 and qa.ingest([jsonl]).new_papers == 0


def test_papers_lists_every_paper_sorted_with_its_reference_fields(tmp_path):
    qa = _qa(tmp_path / "d")
    qa.ingest([SEEDS / "000_8b0c47536576a6c6.txt", SCHOLAR])
    records = qa.papers()
    assert len(records) == 41 and [r["title"].casefold() for r in records] == sorted(r["title"].casefold() for r in records)
    llama = next(r for r in records if r["paper_id"] == "arxiv:2307.09288")
    assert (llama["byline"], llama["year"], llama["link"], llama["abstract"]) == (
        "Touvron et al.", 2023, "https://arxiv.org/abs/2307.09288", False)


def test_removed_paper_is_found_by_neither_search_and_nothing_else_is_lost(tmp_path):
    qa = _qa(tmp_path / "d")
    qa.ingest([SEEDS / "000_8b0c47536576a6c6.txt", ZOTERO])
    query = "Markov jump processes zero-shot inference"
    target = qa.search(query, k=1)[0].paper_id
    before, chunks = {r["paper_id"] for r in qa.papers()}, qa.stats()["chunks"]
    report = qa.remove([target, "doi:10.0000/nothing"])
    assert (report.removed, report.unknown) == ([target], ["doi:10.0000/nothing"])
    assert report.chunks == chunks - qa.stats()["chunks"] > 0
    for mode in ("bm25", "dense", "hybrid"):
        assert target not in {hit.paper_id for hit in qa.search(query, k=50, mode=mode)}
    assert {r["paper_id"] for r in qa.papers()} == before - {target}
    fresh = _qa(tmp_path / "d")  # another process: the saved keyword index agrees too
    assert target not in {hit.paper_id for hit in fresh.search(query, k=50, mode="bm25")}
    assert fresh.search("causal representation learning", k=1, mode="bm25")[0].paper_id == "doi:10.1109/jproc.2021.3058954"


def test_remove_files_removes_the_papers_a_file_holds_even_under_other_ids(tmp_path):
    qa = _qa(tmp_path / "d")
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text(json.dumps({"title": "Deep residual learning for image recognition", "abstract": "Residual nets.",
                                 "id": "resnet"}) + "\n")
    qa.ingest([jsonl, SEEDS / "000_8b0c47536576a6c6.txt"])
    qa.ingest([SCHOLAR])  # ResNet merges into "resnet"; Llama 2 is new
    report = qa.remove_files([SCHOLAR])
    assert sorted(report.removed) == ["arxiv:2307.09288", "resnet"] and report.not_stored == []
    assert len(qa.papers()) == 39
    assert qa.remove_files([SCHOLAR]).not_stored == ["Llama 2: Open foundation and fine-tuned chat models",
                                                     "Deep residual learning for image recognition"]


# ---- references of an answer --------------------------------------------------------------------------------------

def _hit(paper: Paper) -> SearchHit:
    return SearchHit(paper.paper_id, paper.title, 1.0, paper.abstract, paper.year, paper.metadata())


def test_citation_reference_fields_and_links():
    papers = _by_title(parse_paths([ZOTERO, SCHOLAR]))
    causal = Citation.of(1, _hit(papers["Toward Causal Representation Learning"]), [])
    assert (causal.byline, causal.year, causal.venue, causal.link) == (
        "Schölkopf et al.", 2021, "Proceedings of the IEEE", "https://doi.org/10.1109/jproc.2021.3058954")
    bert = Citation.of(2, _hit(papers["BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"]), [])
    assert bert.link == "https://arxiv.org/abs/1810.04805"  # arXiv's DOI links to the abstract page
    vaswani = Citation.of(3, _hit(papers["Attention is All you Need"]), [])
    assert vaswani.link.startswith("https://proceedings.neurips.cc/")
    resnet = Citation.of(4, _hit(papers["Deep residual learning for image recognition"]), [])
    assert (resnet.byline, resnet.link) == ("He et al.", None)
    two = Citation.of(5, _hit(Paper("x", "Two authors", "Text.", authors=["Ada Lovelace", "Charles Babbage"])), [])
    assert two.byline == "Lovelace and Babbage"
    answer = Answer("q", "An answer [1].", True, [causal, bert])
    assert answer.references().splitlines()[0] == ("[1] Toward Causal Representation Learning (Schölkopf et al., 2021). "
                                                  "Proceedings of the IEEE. https://doi.org/10.1109/jproc.2021.3058954")
    assert answer.references_markdown().startswith(
        "[1] [Toward Causal Representation Learning](https://doi.org/10.1109/jproc.2021.3058954) (Schölkopf et al., 2021). "
        "*Proceedings of the IEEE*")


def test_seeds_citations_carry_the_listing_metadata():
    seeds = _by_title(parse_paths([SEEDS]))
    deoxys = Citation.of(1, _hit(seeds[DEOXYS]), [])
    assert (deoxys.year, deoxys.byline, deoxys.link) == (2024, None, None)  # "11 authors": no names to cite
    reward = Citation.of(2, _hit(seeds["Inference-Time Scaling for Generalist Reward Modeling"]), [])
    assert reward.byline == "deepseek-ai DeepSeek"
    assert Answer("q", "t", True, [deoxys]).references() == f"[1] {DEOXYS} (2024)"


def test_bibtex_export_reads_back_as_the_same_papers(tmp_path):
    papers = parse_paths([ZOTERO, SCHOLAR]).papers
    tricky = Paper("t:x", "50% of {braces} & $dollars$ #1 under_score ~tilde", "Text.", authors=["Müller, Jörg"], year=2020)
    citations = [Citation.of(n, _hit(paper), []) for n, paper in enumerate([*papers, tricky, tricky], 1)]
    bib = Answer("q", "t", True, citations).to_bibtex()
    assert "@inproceedings{vaswani2017attention," in bib and "@article{scholkopf2021causal," in bib and "@misc{muller2020braces," in bib and "@misc{muller2020bracesb," in bib
    (tmp_path / "cited.bib").write_text(bib)
    back = parse_file(tmp_path / "cited.bib")
    assert [p.title for p in back.papers][:len(papers)] == [p.title for p in papers]
    assert back.papers[-1].title == tricky.title and back.papers[-1].authors == ["Müller, Jörg"]
    assert [p.paper_id for p in back.papers[:len(papers)]] == [p.paper_id for p in papers]
    assert [(p.year, p.venue, p.authors) for p in back.papers[:len(papers)]] == [(p.year, p.venue, p.authors) for p in papers]


def test_answer_citations_and_ask_bib_through_the_cli(tmp_path, monkeypatch, capsys):
    llm = ScriptedLLM("Causal representation learning discovers high-level causal variables from low-level observations [1].")
    qa = _qa(tmp_path / "d", llm=llm, min_relevance=0.1)
    qa.ingest([ZOTERO])
    monkeypatch.setattr(cli, "_qa", lambda args, **extra: qa)
    out = tmp_path / "cited.bib"
    code = cli.main(["ask", "What is causal representation learning, and what does it discover?", "--json", "--bib", str(out)])
    record = json.loads(capsys.readouterr().out)
    assert code == 0 and record["citations"][0]["paper_id"] == "doi:10.1109/jproc.2021.3058954"
    assert (record["citations"][0]["byline"], record["citations"][0]["venue"], record["citations"][0]["link"]) == (
        "Schölkopf et al.", "Proceedings of the IEEE", "https://doi.org/10.1109/jproc.2021.3058954")
    assert out.read_text().startswith("@article{scholkopf2021causal,\n  title = {Toward Causal Representation Learning},")
    llm.enqueue("Causal representation learning discovers high-level causal variables from low-level observations [1].")
    streamed = tmp_path / "streamed.bib"
    assert cli.main(["ask", "What does causal representation learning discover?", "--bib", str(streamed)]) == 0
    printed = capsys.readouterr()
    assert "[1] Toward Causal Representation Learning (Schölkopf et al., 2021). Proceedings of the IEEE. " \
           "https://doi.org/10.1109/jproc.2021.3058954" in printed.out
    assert "1 cited paper written to" in printed.err and streamed.read_text() == out.read_text()


# ---- the CLI ------------------------------------------------------------------------------------------------------

def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PAPERQA_LOCAL_HOME=str(home), PAPERQA_LOCAL_EMBEDDING_MODEL="hash-test")
    return subprocess.run([sys.executable, "-m", "paperqa_local", *args], capture_output=True, text=True, env=env)


def test_cli_papers_list_and_remove(tmp_path):
    home = tmp_path / "home"
    empty = _cli(home, "papers", "list")
    assert empty.returncode == 1 and "no index" in empty.stderr and "paperqa-local ingest" in empty.stderr
    _qa(home).ingest([SCHOLAR, ENDNOTE])
    listed = _cli(home, "papers", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[-1] == "6 papers in library papers" and len(lines) == 7
    assert lines[0].split()[1:4] == ["2016", "He", "et"] and lines[0].endswith("Deep residual learning for image recognition")
    assert any(line.startswith("arxiv:2307.09288") and "2023  Touvron et al." in line for line in lines)
    as_json = json.loads(_cli(home, "papers", "list", "--json").stdout)
    assert [r["title"][:12] for r in as_json] == ["Deep residua", "Highly accur", "Language Mod", "Llama 2: Ope",
                                                  "Mastering th", "Toward Causa"]

    unknown = _cli(home, "papers", "remove", "arxiv:2307.09288", "doi:10.1/typo")
    assert unknown.returncode == 1
    assert "removed 1 paper (1 chunks): arxiv:2307.09288" in unknown.stdout
    assert "no paper with id 'doi:10.1/typo' in the index" in unknown.stderr and "papers list" in unknown.stderr
    by_file = _cli(home, "papers", "remove", "--file", str(SCHOLAR))
    assert by_file.returncode == 0 and "removed 1 paper (1 chunks)" in by_file.stdout
    assert "1 paper(s) of" in by_file.stderr and "'Llama 2" in by_file.stderr and "no abstract" not in by_file.stderr
    again = _cli(home, "papers", "remove", "--file", str(SCHOLAR))
    assert again.returncode == 1 and "nothing removed" in again.stderr
    nothing = _cli(home, "papers", "remove")
    assert nothing.returncode == 1 and "give the ids" in nothing.stderr
    assert _cli(home, "papers", "list").stdout.splitlines()[-1] == "4 papers in library papers"
    other = _cli(home, "--collection", "astro-notes", "papers", "list")  # another library of the data directory
    assert other.returncode == 1 and "no collection 'astro-notes'" in other.stderr
    assert "Traceback" not in unknown.stderr + by_file.stderr + again.stderr + nothing.stderr

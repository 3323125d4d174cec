"""Parsers on the real seeds and on small files written by the tests."""

import json

import pytest

from paperqa_local.sources import parse_paths
from paperqa_local.sources.seeds import clean_title
from paperqa_local.types import paper_id_for

from .conftest import DEOXYS, SEEDS


@pytest.fixture(scope="module")
def seeds():
    result = parse_paths([SEEDS])
    return result, {p.title: p for p in result.papers}


def test_seeds_hold_323_entries_of_295_papers(seeds):
    result, _ = seeds
    assert len(result.files) == 5
    assert len(result.papers) == 295
    assert result.duplicates == 28
    assert result.problems == []


def test_entry_with_authors_and_full_date(seeds):
    paper = seeds[1][DEOXYS]
    assert paper.author_count == 11
    assert paper.date == "Oct 23, 2024" and paper.year == 2024
    assert paper.abstract.startswith("The presence of unhealthy nodes in cloud infrastructure")
    assert paper.abstract.endswith("resulting in a seamless customer experience.")


def test_organisation_line_in_place_of_authors(seeds):
    paper = seeds[1]["Inference-Time Scaling for Generalist Reward Modeling"]
    assert paper.organisation == "deepseek-ai DeepSeek"
    assert paper.author_count is None
    assert paper.date == "Apr 3" and paper.year is None  # "Apr 3 6": no year, then 6 upvotes


def test_date_without_year_followed_by_upvotes(seeds):
    paper = seeds[1]["Chain-of-Model Learning for Language Model"]
    assert paper.author_count == 17
    assert paper.date == "May 17" and paper.year is None


def test_file_without_author_or_date_lines(seeds):
    only_004 = [p for p in seeds[0].papers if p.source == "004_cd37bf131f093830.txt"]
    assert len(only_004) == 119
    paper = seeds[1]["The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural Networks"]
    assert paper.source == "004_cd37bf131f093830.txt"
    assert paper.abstract.startswith("Neural network pruning techniques")
    assert (paper.author_count, paper.date, paper.year, paper.organisation) == (None, None, None, None)


def test_latex_in_titles_becomes_plain_text(seeds):
    titles = seeds[1]
    assert "H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models" in titles
    assert not any("$" in title for title in titles)
    assert clean_title(r"Scaling $\mathbf{x}$ to $10^{6}$ tokens") == "Scaling x to 106 tokens"


def test_page_headers_are_not_papers(seeds):
    titles = set(seeds[1])
    assert not titles & {"Daily Papers", "Subscribe", "new", "byAK and the research community"}


def test_jsonl_csv_and_beir_layouts(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"title": "Paper A", "abstract": "Alpha text.", "authors": ["X", "Y"], "year": 2021,
                    "doi": "10.1000/XYZ.1"}) + "\n"
        + json.dumps({"title": "Paper B", "abstract": "Beta text.", "url": "https://arxiv.org/abs/2401.01234v2"}) + "\n"
    )
    (tmp_path / "b.csv").write_text('title,abstract,authors,year\nPaper C,"Gamma, with a comma.",X; Y; Z,2020\n')
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"_id": "4983", "title": "Paper D", "text": "Delta text."}) + "\n")
    result = parse_paths([tmp_path])
    by_title = {p.title: p for p in result.papers}
    assert result.problems == []
    assert by_title["Paper A"].paper_id == "doi:10.1000/xyz.1" and by_title["Paper A"].authors == ["X", "Y"]
    assert by_title["Paper B"].paper_id == "arxiv:2401.01234"
    assert by_title["Paper C"].authors == ["X", "Y", "Z"] and by_title["Paper C"].year == 2020
    assert by_title["Paper C"].abstract == "Gamma, with a comma."
    assert by_title["Paper D"].paper_id == "4983" and by_title["Paper D"].abstract == "Delta text."


def test_bad_records_are_reported_and_good_ones_kept(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps({"title": "Good", "abstract": "Fine."}) + "\n"
        + "{not json\n"
        + json.dumps({"title": "No abstract"}) + "\n"
        + json.dumps({"title": "Bad year", "abstract": "x", "year": "soon"}) + "\n"
        + json.dumps(["a", "list"]) + "\n"
    )
    result = parse_paths([path])
    assert [p.title for p in result.papers] == ["Good"]
    problems = [(p.location, p.reason) for p in result.problems]
    assert problems[0][0] == "line 2" and "invalid JSON" in problems[0][1]
    assert problems[1] == ("line 3", "missing 'abstract'")
    assert problems[2][0] == "line 4" and "bad year" in problems[2][1]
    assert problems[3][0] == "line 5"


def test_csv_without_required_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("name,text\na,b\n")
    result = parse_paths([path])
    assert result.papers == [] and "'title' and 'abstract'" in result.problems[0].reason


def test_missing_path_names_the_fix(tmp_path):
    from paperqa_local.errors import PaperQAError

    with pytest.raises(PaperQAError, match="no such file or folder"):
        parse_paths([tmp_path / "nope"])


def test_stable_ids():
    assert paper_id_for("H$_2$O: X") == paper_id_for("h2o x")
    assert paper_id_for("T", doi="https://doi.org/10.1234/ABC") == "doi:10.1234/abc"
    assert paper_id_for("T", url="https://arxiv.org/pdf/2101.00001") == "arxiv:2101.00001"


def test_duplicates_across_files_are_merged(tmp_path):
    (tmp_path / "one.jsonl").write_text(json.dumps({"title": "Same Paper!", "abstract": "Text."}) + "\n")
    (tmp_path / "two.jsonl").write_text(json.dumps({"title": "same paper", "abstract": "Text.", "year": 2022}) + "\n")
    result = parse_paths([tmp_path])
    assert len(result.papers) == 1 and result.duplicates == 1 and result.papers[0].year == 2022

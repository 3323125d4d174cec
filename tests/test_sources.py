"""Parsers on the real seeds and on small files written by the tests."""

import json
from pathlib import Path

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


# Hostile and malformed input (issue #11): every bad record, line or file is a problem with its place; the good
# records beside it are kept.

def _good(title, **fields):
    return json.dumps({"title": title, "abstract": f"About {title}.", **fields})


def _problems(result):
    return [(Path(p.source).name, p.location, p.reason) for p in result.problems]


def test_csv_field_longer_than_the_csv_module_allows_is_read(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("title,abstract\nA,short\nB," + "x" * 200_000 + "\nC,third\n")
    result = parse_paths([path])
    assert [(p.title, len(p.abstract)) for p in result.papers] == [("A", 5), ("B", 200_000), ("C", 5)]
    assert result.problems == []


def test_csv_stray_quote_loses_only_its_own_row(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('title,abstract\nA,alpha\nB,"never closed\nC,gamma\nD,delta\n')
    result = parse_paths([path])
    assert [p.title for p in result.papers] == ["A", "C", "D"]
    assert _problems(result) == [("quote.csv", "line 3", 'a quote opened here runs on to line 5; close it, and write '
                                                          'a quote inside a field as two ("")')]


def test_csv_row_with_unquoted_commas_is_reported_not_truncated(tmp_path):
    path = tmp_path / "commas.csv"
    path.write_text('title,abstract\nA,"multi\nline, quoted"\nB,gamma, with a comma\nC,trailing empty field,\n')
    result = parse_paths([path])
    assert [(p.title, p.abstract) for p in result.papers] == [("A", "multi line, quoted"), ("C", "trailing empty field")]
    assert _problems(result) == [("commas.csv", "line 4", "3 fields where the header has 2; quote fields that hold commas")]


def test_deep_nesting_and_values_that_are_not_objects_cost_only_their_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    lines = [_good("One"), "[" * 100_000, "{\"a\":" * 100_000, "42", '"text"', "null", '["a", "list"]', _good("Two")]
    path.write_text("\n".join(lines) + "\n")
    result = parse_paths([path])
    assert sorted(p.title for p in result.papers) == ["One", "Two"]
    reasons = {p.location: p.reason for p in result.problems}
    assert reasons["line 2"].startswith("nested too deeply") and reasons["line 3"].startswith("nested too deeply")
    assert "(it is a number)" in reasons["line 4"] and "(it is a string)" in reasons["line 5"]
    assert "(it is null)" in reasons["line 6"] and "(it is an array)" in reasons["line 7"]
    assert len(result.problems) == 6


def test_deeply_nested_json_file_is_one_problem(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000)
    result = parse_paths([tmp_path / "deep.json"])
    assert result.papers == []
    assert [(p.location, p.reason.split(";")[0]) for p in result.problems] == [
        ("line 1", "nested too deeply to be a paper record (JSON arrays or objects inside each other)")]


def test_json_file_as_an_array_an_object_or_one_line(tmp_path):
    records = [{"title": "Arr 1", "abstract": "x"}, {"title": "Arr 2", "abstract": "y"}]
    (tmp_path / "pretty.json").write_text(json.dumps(records, indent=2))
    (tmp_path / "oneline.json").write_text(json.dumps([{"title": "Line 1", "abstract": "x"}, {"title": "Line 2", "abstract": "y"}]))
    (tmp_path / "object.json").write_text(json.dumps({"title": "Single", "abstract": "z"}, indent=2))
    result = parse_paths([tmp_path])
    assert sorted(p.title for p in result.papers) == ["Arr 1", "Arr 2", "Line 1", "Line 2", "Single"]
    assert result.problems == []


def test_broken_json_array_keeps_the_records_before_the_break(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"title": "Kept", "abstract": "x"},\n  {"title": "No abstract"},\n  {"title": oops}\n]\n')
    result = parse_paths([path])
    assert [p.title for p in result.papers] == ["Kept"]
    assert _problems(result) == [("broken.json", "line 3", "missing 'abstract'"),
                                 ("broken.json", "line 4", "invalid JSON: Expecting value; the records after it were not read")]


def _as_nobody(function):
    """Run `function` in a child process as user nobody, so that file permissions really apply (tests run as root)."""
    import os
    import pickle

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)
            outcome = (True, function())
        except BaseException as exc:  # handed to the parent, which fails the test with it
            outcome = (False, repr(exc))
        finally:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(pickle.dumps(outcome))
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        ok, value = pickle.loads(pipe.read())
    os.waitpid(pid, 0)
    assert ok, f"in the child process: {value}"
    return value


def test_file_that_cannot_be_read_is_a_problem_and_the_others_are_parsed():
    import os
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp())  # pytest's tmp_path is closed to other users
    try:
        folder.chmod(0o755)
        (folder / "good.jsonl").write_text(_good("Readable") + "\n")
        (folder / "secret.jsonl").write_text(_good("Secret") + "\n")
        (folder / "secret.jsonl").chmod(0o000)
        (folder / "locked").mkdir()
        (folder / "locked" / "hidden.jsonl").write_text(_good("Hidden") + "\n")
        (folder / "locked").chmod(0o000)
        result = _as_nobody(lambda: parse_paths([folder])) if os.geteuid() == 0 else parse_paths([folder])
    finally:
        (folder / "locked").chmod(0o755)
        shutil.rmtree(folder)
    assert [p.title for p in result.papers] == ["Readable"]
    assert _problems(result) == [
        ("locked", "folder", "cannot list it: Permission denied; check its permissions"),
        ("secret.jsonl", "file", "cannot read it: Permission denied; check that it is a file you may read (ls -l)")]


def test_one_line_that_is_not_utf8_costs_only_that_line(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(f"{_good('J1')}\n{{\"title\": \"caf\xe9\"}}\n{_good('J2')}\n".encode("latin-1"))
    (tmp_path / "b.csv").write_bytes(b"title,abstract\nC1,one\nC\xe9,two\nC3,three\n")
    header = "Daily Papers\n\nbyAK and the research community\n\n"
    entry = "{}\n\n" + "An abstract long enough to be one, about {} and what follows from it in practice. " * 2 + "\n\n"
    listing = (header + entry.format("T1", "T1", "T1") + entry.format("T\xe92", "x", "x") + entry.format("T3", "T3", "T3"))
    (tmp_path / "c.txt").write_bytes(listing.encode("latin-1"))
    result = parse_paths([tmp_path])
    assert sorted(p.title for p in result.papers) == ["C1", "C3", "J1", "J2", "T1", "T3"]
    assert _problems(result) == [("a.jsonl", "line 2", "not UTF-8 text; save the file as UTF-8"),
                                 ("b.csv", "line 3", "not UTF-8 text; save the file as UTF-8"),
                                 ("c.txt", "line 9", "not UTF-8 text; save the file as UTF-8")]


def test_file_in_another_encoding_is_one_problem(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes("\n".join(json.dumps({"title": f"Caf\xe9 {n}"}, ensure_ascii=False) for n in range(5)).encode("latin-1"))
    assert _problems(parse_paths([path])) == [("latin1.jsonl", "file", "not UTF-8 text (line 1, 4 more lines like it); "
                                                                       "save the file as UTF-8")]


def test_utf16_and_byte_order_marks_are_read(tmp_path):
    (tmp_path / "windows.jsonl").write_bytes(_good("Sixteen").encode("utf-16"))
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbftitle,abstract\nMarked,text\n")
    result = parse_paths([tmp_path])
    assert sorted(p.title for p in result.papers) == ["Marked", "Sixteen"] and result.problems == []


def test_same_id_different_titles_are_two_papers(tmp_path):
    path = tmp_path / "ids.jsonl"
    path.write_text("\n".join([_good("First paper", id="7"), _good("Second paper", id="7"),
                               _good("first paper!", id="7", year=2020)]) + "\n")
    result = parse_paths([path])
    assert [(p.paper_id, p.title, p.abstract) for p in result.papers] == [
        ("7", "First paper", "About first paper!."), ("7~40170d1d", "Second paper", "About Second paper.")]
    assert result.duplicates == 1 and result.papers[0].year == 2020  # the same id and title is one paper
    assert _problems(result) == [("ids.jsonl", "line 2", "id '7' is already used by 'First paper' "
                                  f"({path}, line 1); kept this paper, 'Second paper', as '7~40170d1d' — give each paper its own id")]
    assert [p.paper_id for p in parse_paths([path]).papers] == ["7", "7~40170d1d"]  # the same on every run


def test_titles_in_other_scripts_are_not_one_title(tmp_path):
    path = tmp_path / "cjk.jsonl"
    path.write_text("\n".join([_good("深度学习", id="a"), _good("强化学习", id="b")]) + "\n")
    result = parse_paths([path])
    assert [p.title for p in result.papers] == ["深度学习", "强化学习"] and result.duplicates == 0


def test_txt_that_is_not_a_listing_gives_no_papers(tmp_path):
    from .conftest import ROOT

    readme = tmp_path / "README.txt"
    readme.write_text((ROOT / "README.md").read_text())
    result = parse_paths([readme])
    assert result.papers == []
    assert _problems(result) == [("README.txt", "file", "not a paper listing (no listing-page header, no author or date "
                                                        "lines); give other papers as .jsonl or .csv")]


def test_listing_without_page_header_is_known_by_its_author_and_date_lines(tmp_path):
    path = tmp_path / "entries.txt"
    abstract = "An abstract long enough to count as one, about the subject of the paper and its findings."
    path.write_text(f"First entry\n\n{abstract}\n\n• 3 authors\n·\nOct 23, 2024\n\nSecond entry\n\n{abstract}\n\nMay 17 8\n")
    result = parse_paths([path])
    assert [(p.title, p.author_count, p.year) for p in result.papers] == [("First entry", 3, 2024), ("Second entry", None, None)]
    assert result.problems == []


def test_empty_file_empty_folder_and_files_without_records_are_problems(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "blank.jsonl").write_text("\n  \n")
    (tmp_path / "files" / "header.csv").write_text("title,abstract\n")
    (tmp_path / "files" / "none.json").write_text("[\n]\n")
    (tmp_path / "files" / "notes.md").write_text("# not a source\n")
    assert _problems(parse_paths([tmp_path / "empty"])) == [("empty", "folder", "no .jsonl, .json, .csv, .bib, .ris or .txt listing found in it")]
    assert _problems(parse_paths([tmp_path / "files"])) == [
        ("blank.jsonl", "file", "empty file: it holds no records"),
        ("header.csv", "file", "no records in it"),
        ("none.json", "file", "no records in it")]


def test_symlink_loops_and_broken_links_are_reported_and_the_walk_ends(tmp_path):
    import os

    (tmp_path / "good.jsonl").write_text(_good("Linked folder paper") + "\n")
    os.symlink(".", tmp_path / "self")  # a folder loop: links to folders are not followed
    os.symlink("loop.jsonl", tmp_path / "loop.jsonl")
    os.symlink("missing.csv", tmp_path / "dangling.csv")
    os.symlink("elsewhere", tmp_path / "dangling.md")  # not a source: ignored
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would wait for ever
    result = parse_paths([tmp_path])
    assert [p.title for p in result.papers] == ["Linked folder paper"]
    assert _problems(result) == [
        ("dangling.csv", "file", "cannot open it: broken symbolic link to missing.csv; fix or remove the link"),
        ("loop.jsonl", "file", "cannot open it: symbolic link to loop.jsonl that cannot be followed "
                               "(Too many levels of symbolic links); fix or remove the link"),
        ("pipe.txt", "file", "not a regular file (a pipe, socket or device); skipped")]


def test_binary_files_under_source_names_are_one_problem_each(tmp_path):
    import random

    noise = bytes(random.Random(11).randrange(256) for _ in range(5000)) + b"\x00"
    for name in ("noise.jsonl", "noise.csv", "noise.txt", "noise.json"):
        (tmp_path / name).write_bytes(noise)
    result = parse_paths([tmp_path])
    assert result.papers == []
    assert [(name, location) for name, location, _ in _problems(result)] == [
        ("noise.csv", "file"), ("noise.json", "file"), ("noise.jsonl", "file"), ("noise.txt", "file")]
    assert all(reason.startswith("binary data, not a text file (NUL bytes at line") for *_, reason in _problems(result))


def test_records_with_bad_fields_are_reported(tmp_path):
    path = tmp_path / "fields.jsonl"
    path.write_text("\n".join([
        json.dumps({"title": {"nested": 1}, "abstract": "x"}),
        json.dumps({"title": "T" * 600, "abstract": "x"}),
        json.dumps({"title": "Year", "abstract": "x", "year": [2020]}),
        '{"title": "Escape \\ud800", "abstract": "x"}',
        '{"title": "Digits", "abstract": "x", "year": ' + "9" * 5000 + "}",
        _good("Fine", year="2021-05-01", authors=[{"name": "Ada"}, "Bob"]),
    ]) + "\n")
    result = parse_paths([path])
    assert [(p.title, p.year, p.authors) for p in result.papers] == [("Fine", 2021, ["Ada", "Bob"])]
    assert [(p.location, p.reason) for p in result.problems] == [
        ("line 1", "'title' is an object, not text"),
        ("line 2", "a 600-character title is too long; is the abstract in the 'title' field?"),
        ("line 3", "bad year: invalid literal for int() with base 10: '[202'"),
        ("line 4", "holds an unpaired surrogate escape (such as \\ud800); fix the text's JSON escapes"),
        ("line 5", "invalid JSON: a number too long to read")]


def test_listing_lines_that_cannot_start_an_entry_are_reported(tmp_path):
    path = tmp_path / "hostile.txt"
    abstract = "An abstract long enough to count as one, about the subject of the paper and its findings."
    lines = ["Daily Papers", "byAK and the research community", "• " + "9" * 5000 + " authors", "T" * 600, "$$",
             abstract, "Kept entry", abstract, "• 2 authors"]
    path.write_text("\n\n".join(lines) + "\n")
    result = parse_paths([path])
    assert [(p.title, p.author_count) for p in result.papers] == [("Kept entry", 2)]
    assert [(p.location, p.reason) for p in result.problems] == [
        ("line 5", "5,010 characters is too long for a title; an entry is a title line, then its abstract"),
        ("line 7", "600 characters is too long for a title; an entry is a title line, then its abstract"),
        ("line 9", "title '$$' has no text once its LaTeX is removed"),
        ("line 11", "title 'An abstract long enough to count as one, about the subject o' has no abstract after it")]

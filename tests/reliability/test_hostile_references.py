"""Property-based tests on the reference-manager parsers (.bib, .ris): whatever the bytes, parsing ends in papers
plus problems, never a traceback or a hang; every good entry mixed in with garbage is among the papers, its title
and abstract as written; every problem names the file and a line of it.

Good BibTeX entries are written with the escaping `Answer.to_bibtex` uses, so the property is also a round trip of
that export through the reader. Garbage: binary, text that is not UTF-8, unclosed braces and quotes, lone '@',
entries without a title or a key, @string/@comment/@preamble gone wrong, braces nested thousands deep, huge fields;
for RIS, records without 'ER  - ', tags outside records, lines that are not UTF-8. Derandomized (the same examples
every run): 1,500 BibTeX files and 1,500 RIS files.
"""

from __future__ import annotations


import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperqa_local.types import bibtex_value

from .test_hostile_input import GARBAGE, HUGE, assert_kept, examples, join_lines, parse_written

slow = pytest.mark.slow  # about 30 s on two cores


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile-references")


def expected(records: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(" ".join(title.split()), " ".join(abstract.split())) for title, abstract in records]


# ---- BibTeX -------------------------------------------------------------------------------------------------------

# Everything LaTeX gives a meaning to is in here (escaped on the way out), except what TeX turns into another
# character: "--" (a dash), "''" and "``" (quotes), "?`" and "!`" (inverted marks).
BIB_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGH 0123456789 éüñßλπ漢字,.:;!?()[]-'&%$#_{}\\~^/<>=+*|@\"",
                   max_size=50).filter(lambda text: "--" not in text and "''" not in text)
BIB_SPACED = st.text(alphabet="abcdefgh ABCD 0123.,;éλ漢 \t\n\x0c\u00a0\u2028", max_size=50)
BIB_EXTRAS = st.sampled_from([
    "", "  year = {2021},\n", "  year = 2019,\n", "  year = {in press},\n", "  date = {2020-05-01},\n",
    "  author = {Lovelace, Ada and Hopper, Grace and others},\n", "  author = {M{\\\"u}ller, J{\\\"o}rg},\n",
    "  doi = {10.1000/paper#I},\n", "  eprint = {2401.1000#Iv2},\n  archiveprefix = {arXiv},\n",
    "  journal = {arXiv preprint arXiv:2401.2000#I},\n", "  keywords = {a, b; c},\n", "  booktitle = {Proc. {ICML}},\n"])
BIB_JUNK = st.one_of(
    GARBAGE,
    st.sampled_from([b"@", b"@article", b"@article{", b"@article{key,", b"@article{unclosed, title = {never closed",
                     b'@article{quote, title = "never closed', b"@misc{notitle, abstract = {No title.}}",
                     b"@misc{empty, title = {}, abstract = {x}}", b"@misc{latex, title = {\\emph{}{}}, abstract = {x}}",
                     b"@article{title = {No key}, abstract = {x}}", b"@string{s = ", b"@comment{open", b"@preamble{",
                     b"}}}}", b"{{{{", b"% a comment line", b"@article{good0, title = {Same key as a good one}}",
                     b"@misc{bad, title = {caf\xe9}, abstract = {not UTF-8}}", b"@misc{nul, title = {a\x00b}}",
                     b"@article{x, title = {" + b"t" * 600 + b"}, abstract = {title too long}}"]),
    st.sampled_from([50, 900, 1100, 5000, 50_000]).map(lambda n: b"@article{deep, title = " + b"{" * n),
    HUGE.map(lambda n: b"@article{huge, title = {Huge}, abstract = {" + b"x" * n + b"}}"),
)


@st.composite
def bib_files(draw):
    entries, records = [], []
    for index in range(draw(st.integers(0, 6))):
        title, abstract = f"Good {index}: {draw(BIB_TEXT)}", f"About {index}: {draw(BIB_SPACED)}"
        kind = draw(st.sampled_from(["article", "inproceedings", "misc", "online", "Article"]))
        if draw(st.booleans()):
            fields = f"  title = {{{bibtex_value(title)}}},\n  abstract = {{{abstract}}},\n"
        else:  # quoted values: a quote inside one must be braced, so these titles have none
            title = title.replace('"', "")
            fields = f'  title = "{bibtex_value(title)}",\n  abstract = "{abstract}",\n'
        extras = draw(BIB_EXTRAS).replace("#I", str(index))  # a DOI or arXiv id names one paper: each its own
        entries.append(f"@{kind}{{good{index},\n{fields}{extras}}}".encode())
        records.append((title, abstract))
    junk = draw(st.lists(BIB_JUNK, max_size=6))
    lines = draw(st.permutations(entries + junk)) if entries or junk else []
    return records, join_lines(draw, lines)


@slow
@given(bib_files())
@examples(1500)
def test_bibtex_keeps_every_good_entry(scratch, case):
    records, data = case
    result = parse_written(scratch, "library.bib", data)
    assert_kept(result, expected(records))


# ---- RIS ----------------------------------------------------------------------------------------------------------

RIS_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGH 0123456789 éüñßλπ漢字,.:;!?()[]-'\"&%$#_{}\\~^/<>=@", max_size=50)
RIS_EXTRAS = st.sampled_from([
    [], ["PY  - 2021"], ["Y1  - 2019///"], ["DA  - 2020/05/01/"], ["PY  - soon"], ["AU  - Lovelace, Ada", "AU  - Hopper, Grace"],
    ["A1  - Müller, Jörg"], ["DO  - 10.1000/paper#I"], ["UR  - http://arxiv.org/abs/2401.1000#I"], ["KW  - a", "KW  - b; c"],
    ["T2  - Proc. ICML"], ["JO  - Nature", "JF  - Nature"], ["ID  - 17"], ["XX  - an unknown tag"], ["ST  - A short title"]])
RIS_JUNK = st.one_of(
    GARBAGE,
    st.sampled_from([b"TY  - JOUR", b"TY  - JOUR\nTI  - Never ended", b"ER  - ", b"TI  - Outside a record", b"AB  -",
                     b"TY  - JOUR\nAB  - No title\nER  - ", b"TY  - JOUR\nTI  - caf\xe9\nER  - ", b"TY  - \nER  - ",
                     b"TY  - JOUR\nTI  - " + b"t" * 600 + b"\nER  - ", b"Provider: Some Database", b"\xef\xbb\xbfTY  - JOUR"]),
    HUGE.map(lambda n: b"TY  - JOUR\nTI  - Huge\nAB  - " + b"x" * n + b"\nER  - "),
)


@st.composite
def ris_files(draw):
    """Good records whose abstracts may run on over continuation lines, with RIS garbage between them."""
    records, blocks = [], []
    for index in range(draw(st.integers(0, 6))):
        title, abstract = f"Good {index}: {draw(RIS_TEXT)}", f"About {index}: {draw(RIS_TEXT)}"
        more = draw(st.sampled_from(["", "more text on the next line"]))
        tag = draw(st.sampled_from(["TI", "T1"]))
        lines = [f"TY  - {draw(st.sampled_from(['JOUR', 'CONF', 'GEN', 'jour']))}", f"{tag}  - {title}",
                 *(line.replace("#I", str(index)) for line in draw(RIS_EXTRAS)), f"{draw(st.sampled_from(['AB', 'N2']))}  - {abstract}", *([more] if more else []),
                 "ER  - "]
        blocks.append("\n".join(lines).encode())
        records.append((title, f"{abstract} {more}"))
    junk = draw(st.lists(RIS_JUNK, max_size=6))
    return records, join_lines(draw, draw(st.permutations(blocks + junk)) if blocks or junk else [])


@slow
@given(ris_files())
@examples(1500)
def test_ris_keeps_every_good_record(scratch, case):
    records, data = case
    result = parse_written(scratch, "library.ris", data)
    assert_kept(result, expected(records))

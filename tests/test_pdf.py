"""PDFs, full text with page numbers: real multi-page PDFs printed by headless chromium at test time, read by
llama-index's PDF reader, split page by page; a scan without a text layer and a cut-short file are problems with
the fix, and the rest of the batch is stored. The slow test asks the real 0.5B about a fact on page 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperqa_local import PaperQA
from paperqa_local.types import Paper

from .conftest import HashEmbedder, ScriptedLLM

TITLE = "Retinoic Acid Timing in Axolotl Limb Regeneration"
FACT = ("With 40 micromolar retinoic acid, regenerated axolotl limbs reached full digit formation in 17 days, "
        "against 29 days in untreated controls.")
QUESTION = "How many days did regenerated axolotl limbs take to reach full digit formation with retinoic acid?"
TOPICS = {  # page → what its filler sentences are about (none of them says how many days digits took)
    1: ("salamander husbandry", "Axolotls are kept in cool dechlorinated water", "tank"),
    2: ("amputation surgery", "Forelimbs were amputated at the mid-humerus under tricaine anaesthesia", "cohort"),
    3: ("blastema imaging", "Blastema outgrowth was photographed under a stereo microscope", "series"),
    4: ("signalling discussion", "Retinoid signalling is known to proximalise positional identity", "model"),
    5: ("bibliography", "Earlier regeneration atlases described wound epidermis formation", "atlas"),
}


def _page(number: int, heading: str | None = None, after: str = "") -> str:
    topic, lead, noun = TOPICS[number]
    sentences = [f"{lead} in {noun} {i} of the {topic} work, recorded by observer {chr(65 + i)}." for i in range(14)]
    if number == 3:
        sentences.insert(7, FACT)
    if heading is None:
        heading = f"<h1>{TITLE}</h1><p>Ana Ortiz, Bo Lindqvist and Chen Wei</p>" if number == 1 else f"<h2>Section {number}</h2>"
    return f'<section style="page-break-after: always">{heading}<p>{" ".join(sentences)} {after}</p></section>'


PAPER_HTML = f"<html><head><title>{TITLE}</title></head><body>{''.join(_page(n) for n in TOPICS)}</body></html>"
# a scan: the page is a picture of text (drawn on a canvas), with no text layer
SCAN_HTML = """<html><body><canvas id="c" width="600" height="300"></canvas><script>
const g = document.getElementById('c').getContext('2d'); g.font = '28px serif';
g.fillText('A scanned page of a paper', 20, 80); g.fillRect(20, 120, 400, 8);</script></body></html>"""


def make_pdfs(folder: Path) -> dict[str, Path]:
    """paper.pdf (5 pages, the fact on page 3), scan.pdf (image only), cut.pdf (paper.pdf cut short), not-a.pdf."""
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.pdf" for name in ("paper", "scan", "cut", "not-a")}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()
        for name, html in (("paper", PAPER_HTML), ("scan", SCAN_HTML)):
            page.set_content(html)
            page.pdf(path=str(paths[name]), format="A4")
        browser.close()
    data = paths["paper"].read_bytes()
    paths["cut"].write_bytes(data[: len(data) // 3])
    paths["not-a"].write_bytes(b"<html>a web page saved under the wrong name</html>\n")
    return paths


@pytest.fixture(scope="session")
def pdfs(tmp_path_factory) -> dict[str, Path]:
    return make_pdfs(tmp_path_factory.mktemp("pdfs"))


def _one(folder: Path, source: Path) -> Path:
    """A folder holding only `source`, so each test ingests exactly the files it names."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / source.name).write_bytes(source.read_bytes())
    return folder / source.name


def _chunks(qa: PaperQA) -> list[dict]:
    return qa.store.all(include_texts=False).metadatas


def test_pdf_is_one_paper_whose_chunks_know_their_page(hash_qa, pdfs):
    report = hash_qa.ingest([pdfs["paper"]])
    assert (report.new_papers, report.problems) == (1, [])
    [paper] = hash_qa.papers()
    assert paper["title"] == TITLE and paper["source"] == str(pdfs["paper"]) and paper["chunks"] > 5
    pages = [meta["page"] for meta in sorted(_chunks(hash_qa), key=lambda meta: meta["position"])]
    assert pages == sorted(pages) and set(pages) == {1, 2, 3, 4, 5}  # every chunk has its page, in page order
    [hit] = hash_qa.search(QUESTION, k=1)
    assert hit.title == TITLE and hit.page == 3 and "17 days" in hit.text
    assert hit.to_dict()["page"] == 3
    assert hash_qa.ingest([pdfs["paper"]]).chunks_embedded == 0  # idempotent, as any input


def test_scan_and_broken_pdfs_are_problems_with_the_fix_and_the_rest_is_stored(hash_qa, pdfs, tmp_path):
    folder = tmp_path / "batch"
    for name in ("scan", "cut", "not-a", "paper"):
        _one(folder, pdfs[name])
    report = hash_qa.ingest([folder])
    assert report.new_papers == 1 and [p["title"] for p in hash_qa.papers()] == [TITLE]
    reasons = {Path(problem.source).name: problem.reason for problem in report.problems}
    assert set(reasons) == {"scan.pdf", "cut.pdf", "not-a.pdf"}
    assert "no text layer" in reasons["scan.pdf"] and "ocrmypdf scan.pdf scan-ocr.pdf" in reasons["scan.pdf"]
    assert reasons["cut.pdf"].startswith("not a readable PDF (") and "download or export it again" in reasons["cut.pdf"]
    assert reasons["not-a.pdf"].startswith("not a PDF: it does not begin with %PDF-")


def test_pdf_of_a_stored_bib_entry_becomes_its_full_text_and_keeps_its_reference(hash_qa, pdfs, tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text("@article{ortiz2021retinoic,\n  title = {Retinoic Acid Timing in {Axolotl} Limb Regeneration},\n"
                   "  author = {Ortiz, Ana and Lindqvist, Bo and Wei, Chen},\n  journal = {Developmental Biology},\n"
                   "  year = {2021},\n  doi = {10.1016/j.ydbio.2021.01.007}\n}\n")
    hash_qa.ingest([bib])
    hash_qa.ingest([pdfs["paper"]])
    [paper] = hash_qa.papers()
    assert paper["paper_id"] == "doi:10.1016/j.ydbio.2021.01.007" and paper["year"] == 2021
    assert paper["venue"] == "Developmental Biology" and paper["byline"] == "Ortiz et al." and paper["chunks"] > 5
    assert hash_qa.search(QUESTION, k=1)[0].page == 3
    again = hash_qa.ingest([bib])  # the .bib again: its entry has no text, the stored full text and pages stay
    assert again.chunks_embedded == 0 and {meta.get("page") for meta in _chunks(hash_qa)} == {1, 2, 3, 4, 5}


def test_pdf_and_its_bib_entry_in_one_folder_are_one_paper(hash_qa, pdfs, tmp_path):
    folder = tmp_path / "library"
    _one(folder, pdfs["paper"])
    (folder / "a.bib").write_text("@article{o, title = {Retinoic acid timing in axolotl limb regeneration},\n"
                                  "  author = {Ortiz, Ana}, year = {2021}, journal = {Dev. Biol.}}\n")
    report = hash_qa.ingest([folder])
    assert (report.new_papers, report.duplicates) == (1, 1)
    [paper] = hash_qa.papers()
    assert (paper["year"], paper["venue"], paper["authors"]) == (2021, "Dev. Biol.", ["Ortiz, Ana"])
    assert paper["title"] == "Retinoic acid timing in axolotl limb regeneration" and paper["chunks"] > 5


def test_answer_cites_the_page_its_sentence_is_on(tmp_path, pdfs):
    llm = ScriptedLLM(FACT + " [1]")
    qa = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test", llm=llm, min_relevance=0.1)
    qa.ingest([pdfs["paper"]])
    answer = qa.ask(QUESTION)
    [citation] = answer.citations
    assert (citation.title, citation.page) == (TITLE, 3)
    assert json.loads(json.dumps(answer.to_dict()))["citations"][0]["page"] == 3 and citation.to_dict()["page"] == 3
    assert answer.references().startswith(f"[1] {TITLE}") and ", p. 3" in answer.references()


def test_a_long_full_text_does_not_crowd_out_other_papers(tmp_path):
    """30 pages on coral heat stress beside five abstracts on it: with 10 candidates per retriever, the full
    text's chunks fill them all; search widens until it has k papers."""
    pages = [(n, f"Coral reef heat stress bleaching was surveyed on transect {n}. " * 12) for n in range(1, 31)]
    full = Paper("full", "A coral reef monograph", " ".join(text for _, text in pages), pages=pages)
    abstracts = [Paper(f"a{i}", f"Survey {i}", f"Coral bleaching at site {i} followed heat stress; divers counted fish, "
                       "sponges, algae, urchins and sea stars on the reef.") for i in range(5)]
    qa = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test", candidates=10)
    qa.ingest_papers([full, *abstracts])
    assert len(_chunks(qa)) > 30
    hits = qa.search("coral reef heat stress bleaching", k=5)
    assert len(hits) == 5 and len({hit.paper_id for hit in hits}) == 5 and "full" in {hit.paper_id for hit in hits}


@pytest.fixture(scope="session")
def real_pdf_qa(tmp_path_factory, pdfs) -> PaperQA:
    """The real MiniLM, real Chroma and the real 0.5B over the PDF and two abstracts on other topics."""
    folder = tmp_path_factory.mktemp("real-pdf")
    listing = folder / "others.jsonl"
    listing.write_text("\n".join(json.dumps(record) for record in [
        {"title": "Zebrafish fin regrowth after cryoinjury", "abstract": "Zebrafish caudal fins regrew within 14 days "
         "after cryoinjury. Osteoblast dedifferentiation preceded ray patterning."},
        {"title": "Heat tolerance of reef-building corals", "abstract": "Corals from warmer lagoons bleached less "
         "during a marine heatwave. Symbiont shuffling explained part of the difference."}]) + "\n")
    qa = PaperQA(data_dir=folder / "data", model="fast")
    qa.ingest([pdfs["paper"], listing])
    return qa


@pytest.mark.slow
def test_real_model_answer_about_an_inner_page_cites_page_3(real_pdf_qa):
    answer = real_pdf_qa.ask(QUESTION)
    assert answer.answerable, answer.raw_text
    cited = {c.title: c.page for c in answer.citations}
    assert cited.get(TITLE) == 3, (answer.text, cited)
    assert "17" in answer.text


@pytest.mark.slow
def test_cli_ingest_of_a_pdf_then_ask_json_gives_the_page(real_pdf_qa, pdfs, tmp_path):
    import subprocess
    import sys

    home = str(real_pdf_qa.settings.home)
    run = subprocess.run([sys.executable, "-m", "paperqa_local", "--data-dir", home, "ingest", str(pdfs["paper"])],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    run = subprocess.run([sys.executable, "-m", "paperqa_local", "--data-dir", home, "ask", QUESTION, "--model", "fast",
                          "--json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert {c["title"]: c["page"] for c in record["citations"]}.get(TITLE) == 3, record


# A PDF whose own title is not its entry's (no title in its metadata, a header line first, the title broken over
# lines, a subtitle) and no DOI to tell: it takes its .bib or .ris entry by the entry's `file` field, its key, or
# its title at the head of the first page, and is stored once. Two different papers are never merged.
DOI = "10.1016/j.ydbio.2021.01.007"
BIB_ENTRY = ("@article{ortiz2021retinoic,\n  title = {Retinoic Acid Timing in {Axolotl} Limb Regeneration},\n"
             "  author = {Ortiz, Ana and Lindqvist, Bo and Wei, Chen},\n  journal = {Developmental Biology},\n"
             f"  year = {{2021}},\n  doi = {{{DOI}}}%s\n}}\n")
ZEBRAFISH = ("@article{kim2020zebrafish,\n  title = {Zebrafish fin regrowth after cryoinjury},\n  year = {2020},\n"
             "  abstract = {Zebrafish caudal fins regrew within 14 days after cryoinjury.}\n}\n")
RIS_ENTRY = ("TY  - JOUR\nID  - ortiz2021retinoic\nTI  - Retinoic Acid Timing in Axolotl Limb Regeneration\n"
             "AU  - Ortiz, Ana\nAU  - Lindqvist, Bo\nAU  - Wei, Chen\nPY  - 2021\nJO  - Developmental Biology\n"
             f"DO  - {DOI}\n%sER  - \n")
ZOTERO_NAME = "Ortiz et al. - 2021 - Retinoic acid timing.pdf"
MENTION = f"The timing question was first raised in {TITLE} and is taken up here for newts."


def _variant(first: str, title: str | None = None, after: str = "") -> str:
    head = f"<head><title>{title}</title></head>" if title else ""
    pages = _page(1, first, after) + "".join(_page(n) for n in range(2, 6))
    return f"<html>{head}<body>{pages}</body></html>"


VARIANTS = {  # no <title>: the PDF's metadata has no title
    "broken": _variant("<p>Developmental Biology Letters 12 (2021) 101-117</p><h1>Retinoic Acid Timing in Axo-<br>lotl "
                       "Limb Regeneration:<br>A Time Course of Digit Formation</h1><p>Ana Ortiz, Bo Lindqvist</p>"),
    "draft": _variant("<h1>Lab meeting draft, please do not circulate</h1>"),  # its title is nowhere on it
    "mentions": _variant("<h1>Blastema Cell Cycle Dynamics in Regenerating Newts</h1>", after=MENTION),
    "comment": _variant(f"<h1>Comment on &ldquo;{TITLE}&rdquo;</h1><p>Jun Park</p>"),
    "other-doi": _variant(f"<p>Regeneration Reports 3 (2020)</p><h1>{TITLE}</h1><p>doi: 10.5555/regen.2020.77</p>"),
}


@pytest.fixture(scope="session")
def variants(tmp_path_factory) -> dict[str, Path]:
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("pdf-variants")
    paths = {name: folder / f"{name}.pdf" for name in VARIANTS}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()
        for name, html in VARIANTS.items():
            page.set_content(html)
            page.pdf(path=str(paths[name]), format="A4")
        browser.close()
    return paths


def _library(folder: Path, files: dict[str, Path | str]) -> Path:
    """A folder holding these files: a path is copied under the given name, a string is the file's text."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, Path):
            (folder / name).write_bytes(content.read_bytes())
        else:
            (folder / name).write_text(content, encoding="utf-8")
    return folder


def _the_entry_with_the_full_text(qa: PaperQA) -> dict:
    [paper] = [paper for paper in qa.papers() if paper["paper_id"] == f"doi:{DOI}"]
    assert (paper["title"], paper["year"], paper["venue"]) == ("Retinoic Acid Timing in Axolotl Limb Regeneration", 2021,
                                                               "Developmental Biology")
    assert paper["byline"] == "Ortiz et al." and paper["chunks"] > 5 and paper["abstract"]
    assert qa.search(QUESTION, k=1)[0].page == 3  # the PDF's pages, under the entry
    return paper


@pytest.mark.parametrize("kind", ["bib", "ris"])
def test_a_pdf_titled_otherwise_gets_the_entry_whose_title_heads_its_first_page(hash_qa, variants, tmp_path, kind):
    entry = BIB_ENTRY % "" + ZEBRAFISH if kind == "bib" else RIS_ENTRY % ""
    folder = _library(tmp_path / "lib", {"broken.pdf": variants["broken"], f"refs.{kind}": entry})
    report = hash_qa.ingest([folder])
    assert (report.new_papers, report.duplicates) == (2 if kind == "bib" else 1, 1)
    _the_entry_with_the_full_text(hash_qa)
    assert "Developmental Biology Letters" not in {paper["title"] for paper in hash_qa.papers()}  # no second copy
    again = hash_qa.ingest([folder])
    assert (again.new_papers, again.chunks_embedded) == (0, 0)


@pytest.mark.parametrize("names", [
    {"file": f"{{Full Text PDF:/home/ana/Zotero/storage/QX7T2B/{ZOTERO_NAME}:application/pdf;"
             "Snapshot:/home/ana/Zotero/storage/QX7T2B/page.html:text/html}", "pdf": ZOTERO_NAME},  # Zotero's export
    {"file": f"{{C\\:\\\\Users\\\\ana\\\\papers\\\\{ZOTERO_NAME}}}", "pdf": ZOTERO_NAME},  # a Windows path
    {"file": None, "pdf": "ortiz2021retinoic.pdf"},  # the PDF named after the key
    {"L1": f"file:///home/ana/papers/{ZOTERO_NAME}", "pdf": ZOTERO_NAME},  # RIS L1
    {"L1": None, "pdf": "ortiz2021retinoic.pdf"},  # RIS ID
], ids=["zotero-file", "windows-path", "bib-key", "ris-L1", "ris-ID"])
def test_a_pdf_named_by_its_entry_gets_it_though_its_first_page_does_not_say(hash_qa, variants, tmp_path, names):
    if "L1" in names:
        refs = ("refs.ris", RIS_ENTRY % (f"L1  - {names['L1']}\n" if names["L1"] else ""))
    else:
        refs = ("refs.bib", BIB_ENTRY % (f",\n  file = {names['file']}" if names["file"] else ""))
    folder = _library(tmp_path / "lib", {names["pdf"]: variants["draft"], refs[0]: refs[1]})
    report = hash_qa.ingest([folder])
    assert (report.new_papers, report.duplicates) == (1, 1), [p["title"] for p in hash_qa.papers()]
    _the_entry_with_the_full_text(hash_qa)


@pytest.mark.parametrize("variant, name", [
    ("mentions", "mentions.pdf"),  # the entry's title far down the first page of another paper
    ("comment", "comment.pdf"),  # a comment on the entry's paper, headed by its title
    ("other-doi", "other-doi.pdf"),  # the entry's title at its head, but another DOI
    ("draft", "ortiz2021.pdf"),  # named after no key (the entry's is ortiz2021retinoic)
])
def test_a_different_paper_is_never_merged_with_an_entry(hash_qa, variants, tmp_path, variant, name):
    folder = _library(tmp_path / "lib", {"refs.bib": BIB_ENTRY % "", name: variants[variant]})
    report = hash_qa.ingest([folder])
    assert (report.new_papers, report.duplicates) == (2, 0)
    [entry] = [paper for paper in hash_qa.papers() if paper["paper_id"] == f"doi:{DOI}"]
    assert entry["chunks"] == 1 and not entry["abstract"] and entry["source"] == "refs.bib"  # still the bare reference


def test_a_pdf_that_two_entries_fit_takes_neither(hash_qa, variants, tmp_path):
    course = BIB_ENTRY.replace("ortiz2021retinoic", "ortiz2022course").replace(DOI, "10.1016/j.ydbio.2022.05.001")
    course = course.replace("Limb Regeneration}", "Limb Regeneration: A Time Course of Digit Formation}")
    folder = _library(tmp_path / "lib", {"refs.bib": BIB_ENTRY % "" + course % "", "broken.pdf": variants["broken"]})
    report = hash_qa.ingest([folder])
    assert (report.new_papers, report.duplicates) == (3, 0)
    assert all(paper["chunks"] == 1 for paper in hash_qa.papers() if paper["paper_id"].startswith("doi:"))


def test_attachment_fields_give_the_pdf_names():
    from paperqa_local.sources.matching import pdf_names

    assert pdf_names("Full Text PDF:/z/storage/AB/Ortiz et al. - 2021 - A.B test.pdf:application/pdf;"
                     "Snapshot:/z/storage/AB/page.html:text/html") == ["Ortiz et al. - 2021 - A.B test.pdf"]
    assert pdf_names("C\\:\\\\Users\\\\me\\\\x.PDF") == ["x.PDF"] and pdf_names("internal-pdf://0423/y.pdf") == ["y.pdf"]
    assert pdf_names("") == [] and pdf_names("Snapshot:/z/page.html:text/html") == []

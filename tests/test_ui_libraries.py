"""Several libraries in the real app (`python app.py --model fast`) and real chromium: two collections of one data
directory (real MiniLM, real Chroma), switched in the settings for one browser tab only; the Library tab, search,
an answer's sources and an upload use the chosen one; a new name starts an empty library, a bad one is refused."""

import json

import pytest
from playwright.sync_api import expect

from .test_ui_browser import ANSWER_TIMEOUT, ask, assert_clean, browser, chips, open_page, upload  # noqa: F401
from .ui_server import AppServer

pytestmark = pytest.mark.slow

OCEAN = {  # the default library, "papers"
    "TideNet: Tide pools as nurseries for juvenile reef fish": "TideNet counts juvenile fish in 40 tide pools and "
    "finds that pools deeper than one metre hold three times more recruits.",
    "ReefWatch: Coral bleaching after marine heatwaves": "ReefWatch follows 120 coral colonies through two marine "
    "heatwaves; half of the colonies bleached and a fifth died.",
    "KelpCount: Drone surveys of kelp forest loss": "KelpCount maps kelp canopies with drones and measures a 30 "
    "percent loss of kelp forest along the coast since 2014.",
}
PULSAR = "PulsarHum: A nanohertz gravitational-wave background from pulsar timing"
STARS = {  # the library "astro"
    PULSAR: "PulsarHum analyses 15 years of timing data from 68 millisecond pulsars and finds evidence for a "
    "nanohertz gravitational-wave background.",
    "ExoMoonSeek: Transit timing variations reveal exomoon candidates": "ExoMoonSeek searches Kepler light curves "
    "for transit timing variations and reports four exomoon candidates.",
    "DustLane: Mapping interstellar dust with Gaia parallaxes": "DustLane combines Gaia parallaxes with stellar "
    "colours to map interstellar dust within two kiloparsecs of the Sun.",
}


def _jsonl(path, papers: dict[str, str]):
    rows = [{"title": title, "abstract": abstract, "year": 2021 + n} for n, (title, abstract) in enumerate(papers.items())]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from paperqa_local import PaperQA

    home = tmp_path_factory.mktemp("ui-libraries")
    qa = PaperQA(data_dir=home / "data")
    assert qa.ingest([_jsonl(home / "ocean.jsonl", OCEAN)]).new_papers == 3
    assert qa.with_collection("astro").ingest([_jsonl(home / "stars.jsonl", STARS)]).new_papers == 3
    server = AppServer(home / "data", home / "app.log").wait()
    yield server
    server.stop()


def titles_listed(page) -> set[str]:
    """The titles of the Library tab's table of every paper."""
    table = page.locator("#pq-papers")
    expect(table).to_contain_text("Title")
    return {title for title in {*OCEAN, *STARS} if title in table.inner_text()}


def pick_library(page, name: str) -> None:
    box = page.locator("#pq-library input")
    box.fill(name)
    box.press("Enter")


def test_each_browser_tab_answers_searches_lists_and_adds_papers_in_its_own_library(browser, app, tmp_path):
    page = open_page(browser, app.url)
    expect(page.locator("#pq-stats")).to_contain_text("3 papers indexed · library: papers")
    page.get_by_role("tab", name="Library").click()
    page.locator("#pq-all-papers").get_by_text("All papers").click()
    assert titles_listed(page) == set(OCEAN)

    page.click("#pq-settings")
    page.locator("#pq-library input").click()
    expect(page.get_by_role("option", name="astro (3 papers)")).to_be_visible()  # the data directory's libraries
    page.get_by_role("option", name="astro (3 papers)").click()
    expect(page.locator("#pq-stats")).to_contain_text("3 papers indexed · library: astro")
    expect(page.locator("#pq-collection")).to_contain_text("Library astro in")
    expect(page.locator("#pq-papers")).to_contain_text(PULSAR)
    assert titles_listed(page) == set(STARS)
    page.fill("#pq-search textarea", "juvenile reef fish in tide pools")  # about a paper of the other library
    page.click("#pq-search-button")
    expect(page.locator("#pq-results .pq-title").first).to_be_visible(timeout=60_000)
    assert set(page.locator("#pq-results .pq-title").all_inner_texts()) <= set(STARS)

    other = open_page(browser, app.url)  # another user's tab keeps the server's library
    expect(other.locator("#pq-stats")).to_contain_text("3 papers indexed · library: papers")
    other.context.close()

    page.get_by_role("tab", name="Ask").click()
    answer = ask(page, "How many millisecond pulsars does PulsarHum analyse?", turn=1)
    expect(chips(answer, PULSAR).first, f"the answer cites no PulsarHum chip: {answer.inner_text()!r}").to_be_visible()
    sources = set(page.locator("#pq-sources .pq-card .pq-title").all_inner_texts())
    assert PULSAR in sources and sources <= set(STARS), sources

    pick_library(page, "my library")  # Chroma refuses the space: the tab keeps its library
    expect(page.get_by_text("'my library' is not a Chroma collection name").first).to_be_visible()
    expect(page.locator("#pq-stats")).to_contain_text("library: astro")
    pick_library(page, "field-notes")  # a new name: a new, empty library
    expect(page.locator("#pq-stats")).to_contain_text("0 papers indexed · library: field-notes")
    notes = tmp_path / "notes.jsonl"
    notes.write_text(json.dumps({"title": "Okapi Stripe Genetics", "abstract": "Okapi stripes follow one gene."}) + "\n")
    upload(page, notes)
    expect(page.locator("#pq-stats")).to_contain_text("1 papers indexed · library: field-notes")
    expect(page.locator("#pq-papers")).to_contain_text("Okapi Stripe Genetics")
    assert titles_listed(page) == set()

    page.locator("#pq-library input").click()
    for label in ("astro (3 papers)", "field-notes (1 paper)", "papers (3 papers)"):  # the others are unchanged
        expect(page.get_by_role("option", name=label)).to_be_visible()
    page.get_by_role("option", name="papers (3 papers)").click()
    expect(page.locator("#pq-stats")).to_contain_text("3 papers indexed · library: papers")
    page.get_by_role("tab", name="Library").click()
    assert titles_listed(page) == set(OCEAN)
    assert_clean(page)
    page.context.close()

"""The real app (`python app.py --model fast`) in headless Debian chromium: streamed answers, citation chips,
follow-ups, export, upload and search, and abstracts that try to run script."""

import json
import os
import re
import shutil

import pytest
from playwright.sync_api import expect, sync_playwright

from .conftest import DEOXYS, ROOT
from .ui_server import SEEDS_QUESTION, launch_chromium, start_app

pytestmark = pytest.mark.slow

ANSWER_TIMEOUT = 240_000  # ms: retrieval plus the 0.5B model writing on a busy CPU
SHOTS = ROOT / "screenshots" / "tmp"

# Records, in the page itself, each new state of the answer being streamed and when the first text arrived.
WATCH_STREAM = """
window.__pq = {partials: [], firstToken: null, asked: null};
new MutationObserver(() => {
  const streaming = document.querySelectorAll("#pq-chat .pq-streaming");
  if (!streaming.length) return;
  const text = streaming[streaming.length - 1].textContent.replace("\u258d", "").trim();
  const seen = window.__pq.partials;
  if (text && seen[seen.length - 1] !== text) {
    if (window.__pq.firstToken === null) window.__pq.firstToken = performance.now();
    seen.push(text);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


STREAMING_TEXT = """() => Array.from(document.querySelectorAll("#pq-chat .pq-streaming"))
  .some((el) => el.textContent.replace("\u258d", "").trim().length > 0)"""


@pytest.fixture(scope="module")
def app(seeds_dir, tmp_path_factory):
    server = start_app(seeds_dir, tmp_path_factory, "ui-browser")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app):
    """A fresh tab on the app that records any request leaving 127.0.0.1 and any dialog opened."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.outside_requests = []
    page.dialogs = []
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else page.outside_requests.append(r.url))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.add_init_script(WATCH_STREAM)
    page.goto(app.url)
    expect(page.locator("#pq-stats")).to_contain_text("papers indexed")
    yield page
    context.close()


def ask(page, question: str, turn: int):
    page.fill("#pq-question textarea", question)
    page.evaluate("window.__pq.asked = performance.now()")
    page.click("#pq-ask")
    answer = page.locator(f"#pq-answer-{turn}, #pq-chat .pq-decline").last
    expect(answer).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(page.locator("#pq-ask")).to_be_enabled()
    return answer


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png")


def paper_count(page) -> int:
    return int(page.inner_text("#pq-stats").split()[0])


def upload(page, path) -> None:
    page.get_by_role("tab", name="Library").click()
    page.set_input_files("#pq-upload input[type=file]", str(path))
    # the file list splits the name into spans ("field-notes" ".jsonl"): its table cell is named by the whole name
    expect(page.locator("#pq-upload").get_by_role("cell", name=path.name)).to_be_visible()
    page.click("#pq-add")
    expect(page.locator("#pq-report table")).to_contain_text(path.name, timeout=120_000)


def test_answer_streams_its_chips_open_the_papers_and_follow_ups_use_the_chat(page):
    answer = ask(page, SEEDS_QUESTION, turn=1)

    stream = page.evaluate("window.__pq")
    assert len(stream["partials"]) >= 2, f"the answer did not arrive in pieces: {stream['partials']}"
    assert len(stream["partials"][0]) < len(stream["partials"][-1])
    loaded = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    print(f"\npage load → first streamed token: {stream['firstToken'] / 1000:.2f} s "
          f"(page loaded at {loaded / 1000:.2f} s, question sent at {stream['asked'] / 1000:.2f} s, "
          f"first token {(stream['firstToken'] - stream['asked']) / 1000:.2f} s after sending)")

    chip = answer.locator(f'a.pq-chip[title="{DEOXYS}"]')
    expect(chip).to_have_count(1)
    card = page.locator("#pq-sources details.pq-cited", has=page.locator(".pq-title", has_text=DEOXYS))
    expect(card.locator(".pq-abstract")).to_be_hidden()  # closed until its chip is clicked
    chip.click()
    selected = page.locator("#pq-sources .pq-card.pq-selected")
    expect(selected).to_have_count(1)
    expect(selected.locator(".pq-title")).to_have_text(DEOXYS)
    expect(selected.locator(".pq-abstract mark").first).to_be_visible()
    expect(selected.locator(".pq-abstract mark").first).to_contain_text("Deoxys")
    expect(selected.locator(".pq-facts")).to_contain_text("score")
    shoot(page, "answer")
    if os.environ.get("PAPERQA_LOCAL_UPDATE_SCREENSHOT"):
        shutil.copy(SHOTS / "answer.png", ROOT / "docs" / "screenshot.png")

    with page.expect_download() as download:
        page.click("#pq-export")
    exported = open(download.value.path(), encoding="utf-8").read()
    assert SEEDS_QUESTION in exported
    assert f"[1] {DEOXYS}" in exported and "**References**" in exported

    # on its own this question retrieves recommender-system papers; after the first one it is about Deoxys
    follow_up = ask(page, "What does it use to produce its recommendations?", turn=2)
    expect(follow_up.locator(f'a.pq-chip[title="{DEOXYS}"]').first).to_be_visible()  # one chip per citing sentence
    expect(page.locator("#pq-turn-2")).to_be_visible()
    expect(page.locator("#pq-turn-1")).to_be_hidden()

    page.locator(f'#pq-answer-1 a.pq-chip[title="{DEOXYS}"]').click()
    expect(page.locator("#pq-turn-1")).to_be_visible()
    expect(page.locator("#pq-turn-2")).to_be_hidden()
    expect(page.locator("#pq-turn-1 .pq-selected .pq-title")).to_have_text(DEOXYS)

    # Clear while an answer is being written: it stops, and its last update must not bring the chat back
    page.fill("#pq-question textarea", SEEDS_QUESTION)
    page.click("#pq-ask")
    page.wait_for_function(STREAMING_TEXT, timeout=ANSWER_TIMEOUT)
    page.click("#pq-clear")
    expect(page.locator("#pq-chat .pq-answer, #pq-chat .pq-streaming")).to_have_count(0)
    page.wait_for_timeout(3000)
    expect(page.locator("#pq-chat .pq-answer, #pq-chat .pq-streaming")).to_have_count(0)
    expect(page.locator("#pq-sources")).to_contain_text("appear here")
    expect(page.locator("#pq-export")).to_be_disabled()
    assert page.outside_requests == [], "the page fetched something from outside 127.0.0.1"


def test_claim_check_shows_a_verdict_whose_chip_opens_the_paper(page):
    page.get_by_role("tab", name="Check a claim").click()
    page.fill("#pq-claim textarea", "Deoxys reduces average VM downtime compared to a legacy policy")
    page.click("#pq-check")
    result = page.locator("#pq-verdict-result")
    expect(result).to_be_visible(timeout=ANSWER_TIMEOUT)
    verdict = result.locator(".pq-verdict-label").inner_text().strip()
    assert verdict in {"SUPPORTS", "CONTRADICTS", "NOT ENOUGH INFO"}
    reason = result.inner_text().replace(verdict, "", 1)
    assert len(re.findall(r"[A-Za-z]{3,}", reason)) >= 4, f"no written reason: {reason!r}"
    chip = result.locator(f'a.pq-chip[title="{DEOXYS}"]').first  # each sentence of the reason cites it
    expect(chip).to_be_visible()
    chip.click()
    selected = page.locator("#pq-verdict .pq-card.pq-selected")
    expect(selected.locator(".pq-title")).to_have_text(DEOXYS)
    expect(selected.locator(".pq-abstract mark").first).to_be_visible()
    shoot(page, "check")


def test_uploaded_jsonl_is_reported_per_file_and_found_by_search(page, tmp_path):
    title = "Tardigrade Cryptobiosis Under Simulated Martian Regolith"
    records = [{"title": title, "year": 2021, "authors": ["R. Bear", "W. Water"],
                "abstract": "Tardigrades entered cryptobiosis in simulated Martian regolith and revived after "
                            "thirty days. Survival depended on perchlorate concentration."},
               {"title": "A record without an abstract"}]
    path = tmp_path / "field-notes.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    before = paper_count(page)

    upload(page, path)
    row = page.locator("#pq-report tr", has_text=path.name)
    expect(row).to_contain_text("line 2: missing 'abstract'")
    expect(page.locator("#pq-report")).to_contain_text("1 new")
    expect(page.locator("#pq-stats")).to_contain_text(f"{before + 1} papers indexed")

    page.fill("#pq-search textarea", "tardigrades surviving Mars regolith")
    page.click("#pq-search-button")
    first = page.locator("#pq-results .pq-card").first
    expect(first.locator(".pq-title")).to_have_text(title, timeout=60_000)
    expect(first.locator(".pq-facts")).to_contain_text("2021 · 2 authors")

    page.click("#pq-settings")
    page.locator("#pq-year-to").get_by_role("textbox").fill("2020")  # the settings' year filter applies to search too
    page.click("#pq-search-button")
    expect(page.locator("#pq-results .pq-title", has_text=title)).to_have_count(0, timeout=60_000)
    expect(page.locator("#pq-results .pq-card").first).to_be_visible()
    shoot(page, "library")


def test_markup_in_abstracts_titles_and_questions_stays_inert(page, tmp_path):
    payload = "window.__xss = '{where}'; document.title = 'pwned'"
    record = {
        "title": f"Quokka Lattice Sorting <img src=x onerror=\"{payload.format(where='title')}\">",
        "abstract": (f"Quokka lattice sorting assembles marsupial genomes. <script>{payload.format(where='script')}"
                     f"</script> It builds <img src=x onerror=\"{payload.format(where='img')};alert(1)\"> lattices "
                     f"<a href=\"javascript:{payload.format(where='link')}\">here</a> and "
                     f"[there](javascript:{payload.format(where='md')}) $x$."),
        "url": f"javascript:{payload.format(where='url')}",
        "year": 2023,
    }
    path = tmp_path / "quokka.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    upload(page, path)

    page.fill("#pq-search textarea", "quokka lattice sorting marsupial genomes")
    page.click("#pq-search-button")
    card = page.locator("#pq-results .pq-card").first
    expect(card.locator(".pq-title")).to_contain_text("<img src=x onerror=", timeout=60_000)
    card.locator("summary").click()
    expect(card.locator(".pq-abstract")).to_contain_text("<script>window.__xss")

    page.get_by_role("tab", name="Ask").click()
    ask(page, "What does quokka lattice sorting assemble? <img src=x onerror=\"window.__xss='question'\">", turn=1)
    expect(page.locator("#pq-chat")).to_contain_text("<img src=x onerror=")  # the question, shown as typed
    page.evaluate("document.querySelectorAll('#pq-sources details').forEach((d) => { d.open = true; })")
    expect(page.locator("#pq-sources")).to_contain_text("<script>window.__xss")
    page.get_by_role("tab", name="Map").click()
    expect(page.locator("#pq-map canvas, #pq-map svg").first).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1000)  # a payload that got in would run on load or on a failed image

    assert page.evaluate("window.__xss") is None
    assert page.title() == "paperqa-local"
    assert page.dialogs == []
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert "__xss" not in page.evaluate(
        "Array.from(document.querySelectorAll('script')).map((s) => s.textContent).join(' ')")
    assert page.evaluate("Array.from(document.querySelectorAll('a[href^=\"javascript\"]')).length") == 0
    shoot(page, "xss")

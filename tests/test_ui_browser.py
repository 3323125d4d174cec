"""The real app (`python app.py --model fast`) in headless Debian chromium: streamed answers, citation chips,
follow-ups, upload and search, reference export, the dark theme, a 400 px wide window, and abstracts that try
to run script."""

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


def open_page(browser, url: str, **options):
    """A fresh tab on the app, in a new conversation, that records any request leaving the app's own host, any
    console error and any dialog opened."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True, **options)
    page = context.new_page()
    page.outside_requests, page.errors, page.dialogs, page.reloading = [], [], [], False
    origin = url.rstrip("/")
    page.on("request", lambda r: None if r.url.startswith((origin + "/", "data:", "blob:"))
            else page.outside_requests.append(r.url))
    page.on("console", lambda m: record_error(page, m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: record_error(page, str(e)))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.add_init_script(WATCH_STREAM)
    page.goto(url)
    expect(page.locator("#pq-stats")).to_contain_text("papers indexed")
    return page


# What Gradio's client logs when the browser cuts its open streams as the page unloads
UNLOAD_ERRORS = re.compile(r"^(AbortError: signal is aborted without reason|Unexpected error Connection errored out)")


def record_error(page, text: str) -> None:
    if not (page.reloading and UNLOAD_ERRORS.match(text)):
        page.errors.append(text)


def reload(page) -> None:
    """Reload as a user does; the streams the old page had open are cut, which is no error of the app's."""
    page.reloading = True
    try:
        page.reload()
        expect(page.locator("#pq-stats")).to_contain_text("papers indexed")
    finally:
        page.reloading = False


def new_conversation(page) -> None:
    page.click("#pq-new")
    expect(page.locator("#pq-chat .pq-answer, #pq-chat .pq-decline, #pq-chat .pq-notreported")).to_have_count(0)


def assert_clean(page) -> None:
    assert page.outside_requests == [], f"the page fetched from another host: {page.outside_requests}"
    assert page.errors == [], f"console errors: {page.errors}"


@pytest.fixture
def page(browser, app):
    page = open_page(browser, app.url)
    new_conversation(page)  # the page reopens the most recent conversation; each test starts its own
    yield page
    page.context.close()


def ask(page, question: str, turn: int):
    page.fill("#pq-question textarea", question)
    page.evaluate("window.__pq.asked = performance.now()")
    page.click("#pq-ask")
    answer = page.locator(f"#pq-chat #pq-answer-{turn}")
    expect(answer).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(page.locator("#pq-ask")).to_be_enabled()
    return answer


def chips(scope, title: str):
    """The chips citing `title` (app.js moves a hovered chip's title to data-preview, for its own preview)."""
    return scope.locator(f'a.pq-chip[title^="{title} ("], a.pq-chip[data-preview^="{title} ("]')


# The contrast ratio (WCAG 2) of the first highlighted sentence's text on its background, from the rendered colours.
MARK_CONTRAST = """(mark) => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const style = getComputedStyle(mark);
  const [hi, lo] = [lum(style.color), lum(style.backgroundColor)].sort((a, b) => b - a);
  return {ratio: (hi + 0.05) / (lo + 0.05), color: style.color, background: style.backgroundColor};
}"""


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

    chip = chips(answer, DEOXYS)
    expect(chip).to_have_count(1)
    card = page.locator("#pq-sources details.pq-cited", has=page.locator(".pq-title", has_text=DEOXYS))
    expect(card.locator(".pq-abstract")).to_be_hidden()  # closed until its chip is clicked
    chip.hover()  # the preview: title, year and the supporting sentence
    expect(page.locator("#pq-preview")).to_contain_text(DEOXYS)
    expect(page.locator("#pq-preview")).to_contain_text("(2024)")
    expect(page.locator("#pq-preview")).to_contain_text("“")
    preview = page.locator("#pq-preview").inner_text()
    chip.click()
    selected = page.locator("#pq-sources .pq-card.pq-selected")
    expect(selected).to_have_count(1)
    expect(selected.locator(".pq-title")).to_have_text(DEOXYS)
    mark = selected.locator(".pq-abstract mark").first
    expect(mark).to_be_visible()
    expect(mark).to_contain_text("Deoxys")
    marks = selected.locator(".pq-abstract mark").all_inner_texts()
    assert any(m.strip()[:40] in " ".join(preview.split()) for m in marks), (preview, marks)  # the sentence it rests on
    expect(selected.locator(".pq-facts")).to_contain_text("score")
    shoot(page, "answer")
    if os.environ.get("PAPERQA_LOCAL_UPDATE_SCREENSHOT"):
        shutil.copy(SHOTS / "answer.png", ROOT / "docs" / "screenshot.png")

    light = mark.evaluate(MARK_CONTRAST)
    page.click("#pq-theme")
    expect(page.locator("body")).to_have_class(re.compile(r"\bdark\b"))
    dark = mark.evaluate(MARK_CONTRAST)
    assert dark["background"] != light["background"], "the highlight did not follow the theme"
    assert light["ratio"] >= 4.5 and dark["ratio"] >= 4.5, f"highlight contrast: light {light}, dark {dark}"
    shoot(page, "answer-dark")
    page.click("#pq-theme")
    expect(page.locator("body")).not_to_have_class(re.compile(r"\bdark\b"))

    # on its own this question retrieves recommender-system papers; after the first one it is about Deoxys
    follow_up = ask(page, "What does it use to produce its recommendations?", turn=2)
    expect(chips(follow_up, DEOXYS).first).to_be_visible()  # one chip per citing sentence
    expect(page.locator("#pq-turn-2")).to_be_visible()
    expect(page.locator("#pq-turn-1")).to_be_hidden()

    chips(page.locator("#pq-answer-1"), DEOXYS).click()
    expect(page.locator("#pq-turn-1")).to_be_visible()
    expect(page.locator("#pq-turn-2")).to_be_hidden()
    expect(page.locator("#pq-turn-1 .pq-selected .pq-title")).to_have_text(DEOXYS)

    # a new conversation while an answer is being written: it stops, and its last update must not come back
    page.fill("#pq-question textarea", SEEDS_QUESTION)
    page.click("#pq-ask")
    page.wait_for_function(STREAMING_TEXT, timeout=ANSWER_TIMEOUT)
    page.click("#pq-new")
    expect(page.locator("#pq-chat .pq-answer, #pq-chat .pq-streaming")).to_have_count(0)
    page.wait_for_timeout(3000)
    expect(page.locator("#pq-chat .pq-answer, #pq-chat .pq-streaming")).to_have_count(0)
    expect(page.locator("#pq-sources")).to_contain_text("appear here")
    expect(page.locator("#pq-export")).to_be_disabled()
    assert_clean(page)


def test_claim_check_shows_a_verdict_whose_chip_opens_the_paper(page):
    page.get_by_role("tab", name="Check a claim").click()
    page.fill("#pq-claim textarea", "Deoxys reduces average VM downtime compared to a legacy policy")
    page.click("#pq-check")
    result = page.locator("#pq-verdict-result")
    expect(result).to_be_visible(timeout=ANSWER_TIMEOUT)
    verdict = result.locator(".pq-verdict-label").inner_text().strip()
    assert verdict in {"SUPPORTS", "CONTRADICTS"}  # the Deoxys abstract addresses the claim
    reason = result.inner_text().replace(verdict, "", 1)
    assert len(re.findall(r"[A-Za-z]{3,}", reason)) >= 4, f"no written reason: {reason!r}"
    chip = chips(result, DEOXYS).first  # each sentence of the reason cites it
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

    page.locator("#pq-lib-year-to").get_by_role("textbox").fill("2020")  # the Library's own year filter
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
    point = page.locator('#pq-map [aria-roledescription="point"]').first
    point.dispatch_event("click")  # a point opens its paper
    expect(page.locator("#pq-map-paper .pq-card .pq-abstract"),
           f"the point {point.get_attribute('aria-label')!r} opened nothing").to_be_visible(timeout=30_000)
    page.wait_for_timeout(1000)  # a payload that got in would run on load or on a failed image

    assert page.evaluate("window.__xss") is None
    assert page.title() == "paperqa-local"
    assert page.dialogs == []
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert "__xss" not in page.evaluate(
        "Array.from(document.querySelectorAll('script')).map((s) => s.textContent).join(' ')")
    assert page.evaluate("Array.from(document.querySelectorAll('a[href^=\"javascript\"]')).length") == 0
    shoot(page, "xss")


def test_at_400_px_nothing_overflows_and_the_theme_choice_survives_a_reload(browser, app):
    page = open_page(browser, app.url)
    page.set_viewport_size({"width": 400, "height": 800})
    reload(page)
    page.click("#pq-settings")  # the year inputs, shown
    for tab in ("Ask", "Library", "Check a claim"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(300)
        wide = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert wide[0] <= wide[1], f"the {tab} tab is {wide[0]} px wide in a {wide[1]} px window"
    title = page.locator("#pq-title h2")
    lines = title.evaluate("(h) => h.getBoundingClientRect().height / parseFloat(getComputedStyle(h).lineHeight)")
    assert lines <= 2.05, f"the title takes {lines:.1f} lines"

    page.get_by_role("tab", name="Ask").click()
    box = page.locator("#pq-question textarea")
    room = box.evaluate("""(t) => { const s = getComputedStyle(t); const c = document.createElement("canvas").getContext("2d");
      c.font = `${s.fontSize} ${s.fontFamily}`;
      return [c.measureText(t.placeholder).width, t.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)]; }""")
    assert room[0] <= room[1], f"the placeholder needs {room[0]:.0f} px, the box has {room[1]:.0f}"
    years = [page.locator(f"#{name} input, #{name} textarea").first.bounding_box() for name in ("pq-year-from", "pq-year-to")]
    assert all(b["width"] >= 80 for b in years)
    apart = years[0]["x"] + years[0]["width"] <= years[1]["x"] or years[0]["y"] + years[0]["height"] <= years[1]["y"]
    assert apart, f"the year inputs run together: {years}"
    shoot(page, "narrow")

    page.click("#pq-theme")
    expect(page.locator("body")).to_have_class(re.compile(r"\bdark\b"))
    reload(page)
    page.wait_for_timeout(500)  # Gradio applies the system's theme on load; the choice must win
    expect(page.locator("body")).to_have_class(re.compile(r"\bdark\b"))
    assert_clean(page)
    page.context.close()


def test_bad_input_is_refused_with_the_fix(page, tmp_path):
    page.click("#pq-ask")  # an empty question
    expect(page.get_by_text("question box is empty").first).to_be_visible()
    page.click("#pq-settings")
    page.locator("#pq-year-from").get_by_role("textbox").fill("20x")
    page.fill("#pq-question textarea", SEEDS_QUESTION)
    page.click("#pq-ask")
    expect(page.get_by_text("From year must be a year like 2020, or empty for no limit (not '20x')").first).to_be_visible()
    page.locator("#pq-year-from").get_by_role("textbox").fill("2024")
    page.locator("#pq-year-to").get_by_role("textbox").fill("2020")
    page.click("#pq-ask")
    expect(page.get_by_text("runs from 2024 to 2020: swap them").first).to_be_visible()
    expect(page.locator("#pq-chat .pq-waiting, #pq-chat .pq-streaming")).to_have_count(0)  # nothing was asked

    page.get_by_role("tab", name="Library").click()
    page.locator("#pq-lib-year-from").get_by_role("textbox").fill("19x9")  # the Library's own year filter
    page.fill("#pq-search textarea", "cloud")
    page.click("#pq-search-button")
    expect(page.get_by_text("(not '19x9')").first).to_be_visible()

    good = tmp_path / "one.jsonl"
    good.write_text(json.dumps({"title": "Okapi Stripe Genetics", "abstract": "Okapi stripes follow one gene."}) + "\n")
    upload(page, good)
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(b"%PDF-1.4 not really a paper")
    page.set_input_files("#pq-upload input[type=file]", str(pdf))
    page.click("#pq-add")
    expect(page.locator("#pq-report")).to_contain_text("scan.pdf", timeout=60_000)
    expect(page.locator("#pq-report")).not_to_contain_text("one.jsonl")  # the previous report is gone
    assert "Traceback" not in page.locator("#pq-report").inner_text()
    page.click("#pq-add")  # no file chosen: refused, and the report says so
    expect(page.locator("#pq-report .pq-error")).to_contain_text("Choose one or more files first")
    assert_clean(page)


BERT = "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"


def test_an_uploaded_bib_paper_is_cited_and_its_reference_exported_as_bibtex(page):
    upload(page, ROOT / "tests" / "data" / "zotero_library.bib")
    page.get_by_role("tab", name="Ask").click()
    answer = ask(page, f"What does {BERT} introduce?", turn=1)
    expect(chips(answer, BERT).first, f"the answer cites no BERT chip: {answer.inner_text()!r}").to_be_visible()
    page.get_by_role("tab", name="Library").click()
    expect(page.locator("#pq-export-what")).to_contain_text("cited by the last answer")
    with page.expect_download() as download:
        page.click("#pq-export-bib")
    bib = open(download.value.path(), encoding="utf-8").read()
    assert re.search(r"@\w+\{devlin2019bert,", bib), bib
    assert f"title = {{{BERT}}}" in bib and "author = {Devlin, Jacob and Chang, Ming-Wei" in bib
    with page.expect_download() as download:
        page.click("#pq-export-refs")
    assert f"[{BERT}](" in open(download.value.path(), encoding="utf-8").read()

    page.fill("#pq-search textarea", "zebra finch migration over the Sahara")  # nothing in the library is about it
    page.click("#pq-search-button")
    expect(page.locator("#pq-results .pq-weak")).to_contain_text("No good match", timeout=60_000)
    page.fill("#pq-search textarea", "causal inference engine for unhealthy cloud nodes")
    page.click("#pq-search-button")
    expect(page.locator("#pq-results .pq-title").first).to_have_text(DEOXYS, timeout=60_000)
    expect(page.locator("#pq-results .pq-weak")).to_have_count(0)
    expect(page.locator("#pq-score-help")).to_contain_text("score")

    page.locator("#pq-all-papers").get_by_text("All papers").click()
    expect(page.locator("#pq-papers")).to_contain_text("Title")  # the table of every paper (it shows a page at a time)
    page.locator("#pq-select input").fill("BERT: Pre")
    page.get_by_role("option", name=re.compile("BERT: Pre-training")).click()
    before = paper_count(page)
    page.click("#pq-remove")
    expect(page.locator("#pq-confirm-remove")).to_contain_text("Remove 1 paper(s)")
    page.click("#pq-remove-yes")
    expect(page.locator("#pq-stats")).to_contain_text(f"{before - 1} papers indexed")
    page.locator("#pq-select input").fill("BERT: Pre")
    expect(page.get_by_role("option", name=re.compile("BERT: Pre-training"))).to_have_count(0)
    assert_clean(page)

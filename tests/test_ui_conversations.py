"""Conversations in the real app and real chromium: the sources show while the answer is written, the copy link
copies the answer with its references, a conversation survives a page reload and an app restart, a second one
is separate, and rename, delete and export work on the saved files."""

import json

import pytest
from playwright.sync_api import expect

from .conftest import DEOXYS
from .test_ui_browser import ANSWER_TIMEOUT, ask, assert_clean, browser, chips, new_conversation, open_page, reload  # noqa: F401
from .ui_server import SEEDS_QUESTION, AppServer, start_app

pytestmark = pytest.mark.slow

# Records when the sources panel first showed the retrieved papers and when the final answer arrived.
WATCH_SOURCES = """
window.__pqSources = {pending: null, pendingWhileStreaming: false, answered: null};
new MutationObserver(() => {
  const s = window.__pqSources;
  if (s.pending === null && document.querySelector("#pq-sources .pq-pending .pq-card")) {
    s.pending = performance.now();
    s.pendingWhileStreaming = !document.querySelector("#pq-chat .pq-answer");
  }
  if (s.answered === null && document.querySelector("#pq-chat .pq-answer")) s.answered = performance.now();
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
def app(seeds_dir, tmp_path_factory):
    server = start_app(seeds_dir, tmp_path_factory, "ui-conversations")
    yield server
    server.stop()


def listed(page) -> list[str]:
    return [t.strip() for t in page.locator("#pq-conversations label").all_inner_texts()]


def test_a_conversation_streams_its_sources_copies_and_survives_reload_and_restart(browser, app):  # noqa: F811
    page = open_page(browser, app.url, permissions=["clipboard-read", "clipboard-write"])
    page.add_init_script(WATCH_SOURCES)
    reload(page)
    new_conversation(page)

    answer = ask(page, SEEDS_QUESTION, turn=1)
    seen = page.evaluate("window.__pqSources")
    assert seen["pending"] is not None, "the retrieved papers never showed before the answer"
    assert seen["pendingWhileStreaming"] and seen["pending"] < seen["answered"]
    expect(page.locator("#pq-sources .pq-pending")).to_have_count(0)  # the final panel replaced it

    answer.locator("a.pq-copy").click()
    expect(answer.locator("a.pq-copy")).to_have_text("Copied ✓")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "[1]" in copied and "**References**" in copied and f"[1] {DEOXYS}" in copied
    assert copied.split("[")[0].strip()[:60] in answer.inner_text()  # the answer's own text, then its references

    expect(page.locator("#pq-conversations")).to_contain_text(SEEDS_QUESTION[:40])
    with page.expect_download() as download:
        page.click("#pq-export")
    assert download.value.suggested_filename.startswith("Which-system-recommends-mitigation-actions")
    exported = open(download.value.path(), encoding="utf-8").read()
    assert f"## {SEEDS_QUESTION}" in exported and f"[1] {DEOXYS}" in exported

    reload(page)  # the same conversation comes back
    expect(chips(page.locator("#pq-chat #pq-answer-1"), DEOXYS)).to_have_count(1)
    expect(page.locator("#pq-chat")).to_contain_text(SEEDS_QUESTION)
    expect(page.locator("#pq-sources #pq-turn-1 .pq-title", has_text=DEOXYS)).to_have_count(1)

    # a second conversation, started from an example question drawn from the library
    new_conversation(page)
    example = page.locator("#pq-chat .example").first  # noqa: the chatbot's example buttons
    expect(example).to_be_visible()
    question = example.inner_text().strip()
    assert question.startswith("What does “")
    example.click()
    expect(page.locator("#pq-chat #pq-answer-1")).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(page.locator("#pq-chat")).not_to_contain_text(SEEDS_QUESTION)
    expect(page.locator("#pq-conversations label")).to_have_count(2)

    page.locator("#pq-title-box input, #pq-title-box textarea").first.fill("Cloud nodes")
    page.click("#pq-rename")
    expect(page.locator("#pq-conversations")).to_contain_text("Cloud nodes")
    page.locator("#pq-conversations label", has_text=SEEDS_QUESTION[:40]).click()
    expect(page.locator("#pq-chat")).to_contain_text(SEEDS_QUESTION)
    expect(page.locator("#pq-chat")).not_to_contain_text(question)
    assert_clean(page)
    page.context.close()

    home = app.log_path.parent / "data"
    files = sorted((home / "conversations" / "local").glob("*.json"))
    assert len(files) == 2 and not list((home / "conversations" / "local").glob(".*.tmp"))
    saved = {json.loads(f.read_text())["title"] for f in files}
    assert "Cloud nodes" in saved

    app.stop()  # the same data directory, a new process
    again = AppServer(home, app.log_path.parent / "app-2.log").wait()
    app.__dict__.update(again.__dict__)  # the module fixture stops this one
    page = open_page(browser, app.url)
    expect(page.locator("#pq-conversations label")).to_have_count(2)
    expect(page.locator("#pq-conversations")).to_contain_text("Cloud nodes")
    page.locator("#pq-conversations label", has_text=SEEDS_QUESTION[:40]).click()
    expect(chips(page.locator("#pq-chat #pq-answer-1"), DEOXYS)).to_have_count(1)

    page.click("#pq-delete")
    expect(page.locator("#pq-confirm-delete")).to_contain_text("for good?")
    page.click("#pq-delete-yes")
    expect(page.locator("#pq-conversations label")).to_have_count(1)
    expect(page.locator("#pq-conversations")).to_contain_text("Cloud nodes")
    assert len(list((home / "conversations" / "local").glob("*.json"))) == 1
    assert_clean(page)
    page.context.close()

"""What the UI renders, without a browser: escaping, chips, highlights, the sources panel, serving rules."""

import numpy as np
import pytest

from paperqa_local.errors import ConfigError
from paperqa_local.types import Answer, Citation, SearchHit
from paperqa_local.ui import (answer_html, check_serving, highlight, is_loopback, markup, project, read_credentials,
                              sources_html, stopped_html, verdict_html)

EVIL = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def hit(paper_id: str, title: str, text: str, score: float = 0.5) -> SearchHit:
    return SearchHit(paper_id, title, score, text, 2024, {"author_count": 3})


def test_markup_leaves_no_html_and_no_markdown():
    shown = markup(f"{EVIL} **bold** [link](javascript:alert(3)) $x$ `code`")
    assert "<" not in shown and ">" not in shown
    for active in "*[]()$`":
        assert active not in shown
    assert "&lt;script&gt;" in shown
    assert markup("it's \"quoted\"") == "it's \"quoted\""  # quotes show as typed, not as &#x27;


def test_highlight_marks_supporting_sentences_and_escapes_the_rest():
    text = f"First sentence {EVIL}. The   supporting one. Last."
    shown = highlight(text, ["The supporting one."])
    assert "<mark>The supporting one.</mark>" in shown
    assert "<script>" not in shown and "&lt;script&gt;" in shown


def test_answer_chips_only_for_cited_keys_and_a_distinct_decline():
    answer = Answer("q", "Deoxys does it [1]. Made up [7].", True,
                    citations=[Citation(1, "p1", f"Deoxys {EVIL}", 2024, ["s"], 0.9)])
    shown = answer_html(answer, turn=3)
    assert shown.count('class="pq-chip"') == 1
    assert 'href="#pq-src-3-1"' in shown
    assert "&#91;7&#93;" in shown  # a marker without a source stays text
    assert "<script>" not in shown and "<img" not in shown

    declined = answer_html(Answer("q", "Cannot answer from the indexed papers.", False), turn=1)
    assert 'class="pq-decline"' in declined and "pq-chip" not in declined
    assert "&lt;img" in stopped_html(f"Half {EVIL}") and "(stopped)" in stopped_html("Half")


def test_unsupported_sentences_dropped_figures_and_not_reported_answers_are_shown_as_such():
    answer = Answer("q", "Deoxys does it [1]. It is magic <b>.", True,
                    citations=[Citation(1, "p1", "Deoxys", 2024, ["s"], 0.9)],
                    uncited_sentences=["It is magic <b>."], dropped=["70 (in no retrieved source)"])
    shown = answer_html(answer, turn=1)
    assert '<span class="pq-unsupported" title="no cited source supports this">It is magic &lt;b&gt;.</span>' in shown
    assert "1 figure(s) or name(s) left out" in shown
    not_reported = answer_html(Answer("q", "The abstract does not report the downtime.", False), turn=2)
    assert 'class="pq-notreported"' in not_reported and "pq-decline" not in not_reported


def test_sources_lists_cited_papers_then_the_uncited_ones_escaped():
    answer = Answer("what <b>?", "x [1].", True,
                    citations=[Citation(1, "p2", "Cited", 2024, ["Support here."], 0.8)],
                    contexts=[hit("p1", f"Uncited {EVIL}", "Nothing."), hit("p2", "Cited", "Support here. More.", 0.8)])
    shown = sources_html(answer, turn=2, abstracts={"p2": "Before. Support here. More."})
    assert shown.index('id="pq-src-2-1"') < shown.index("Retrieved, not cited") < shown.index("Uncited")
    assert "<mark>Support here.</mark>" in shown and "3 authors" in shown and "score 0.800" in shown
    assert "<script>" not in shown and "<img" not in shown and "what &lt;b&gt;?" in shown


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                           ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False),
                                           ("example.org", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_serving_rules(tmp_path):
    check_serving("127.0.0.1", [])
    check_serving("0.0.0.0", [("alice", "s3cret")])
    with pytest.raises(ConfigError, match="--auth user:password"):
        check_serving("0.0.0.0", [])
    users = tmp_path / "users"
    users.write_text("# team\nalice:s3cret\n\nbob:pa:ss\n")
    assert read_credentials("carol:x", users) == [("carol", "x"), ("alice", "s3cret"), ("bob", "pa:ss")]
    with pytest.raises(ConfigError, match="expected user:password"):
        read_credentials("alice")


def test_projection_is_deterministic_and_two_dimensional():
    vectors = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    first, second = project(vectors), project(vectors.copy())
    assert first.shape == (50, 2)
    assert np.allclose(first, second)
    assert first[:, 0].var() >= first[:, 1].var()  # the first axis carries the most variance


def test_verdict_shows_the_label_chips_and_escaped_reason():
    answer = Answer(question="claim", text="CONTRADICTS: It fell by 10% <img src=x> [1] [7].", answerable=True,
                    contexts=[hit("p1", "<b>Bold</b> title", "Abstract <script>x()</script>.")], citations=[Citation(1, "p1", "<b>Bold</b> title", 2024, ["Abstract"], 0.9)],
                    verdict="CONTRADICTS")
    html = verdict_html(answer, {"p1": "Abstract <script>x()</script>."})
    assert "<strong>CONTRADICTS</strong>" in html and "pq-contradicts" in html
    assert 'href="#pq-src-check-1"' in html and 'id="pq-src-check-1"' in html  # the chip opens the cited paper
    assert "[7]" in html and "#pq-src-check-7" not in html  # no chip for a key that cites nothing
    assert "<img" not in html and "<script>" not in html and "<b>Bold" not in html


def test_adjacent_chips_stay_apart_and_preview_title_year_and_support():
    answer = Answer("q", "Both do it [4][2].", True,
                    citations=[Citation(4, "p4", "Four <b>", 2021, ["Four does it."], 0.9),
                               Citation(2, "p2", "Two", None, [], 0.8)])
    shown = answer_html(answer, turn=1)
    assert '>4</a>\u2009<a class="pq-chip"' in shown  # "4" "2", never "42"
    assert 'title="Four &lt;b&gt; (2021) — “Four does it.”"' in shown
    assert 'title="Two"' in shown
    assert 'href="#pq-copy-1"' in shown  # every answer has its copy link


def test_sources_show_pages_the_pending_heading_and_the_copy_text():
    cited = Citation(1, "p1", "Paged", 2024, ["Support."], 0.9)
    cited.page = 7  # a field another engineer adds to Citation; read with getattr
    answer = Answer("q", "x [1].", True, citations=[cited], contexts=[hit("p1", "Paged", "Support.", 0.9)])
    shown = sources_html(answer, turn=1, abstracts={}, copy_text="x [1] <b>")
    assert "p. 7" in shown and 'id="pq-copy-text-1" hidden>x [1] &lt;b&gt;</pre>' in shown
    pending = sources_html(Answer("q", "", False, contexts=[hit("p1", "Paged", "Support.")]), turn=2, abstracts={},
                           pending=True)
    assert "the answer is being written" in pending and "pq-pending" in pending
    assert "p. " not in sources_html(Answer("q", "x", True, contexts=[hit("p1", "T", "S.")]), 1, {})


def test_conversations_round_trip_atomically_per_user(tmp_path):
    from paperqa_local.ui.conversations import (Conversations, file_name, history, new_conversation, to_markdown,
                                                turn_record, user_folder)

    store = Conversations(tmp_path)
    answer = Answer("Which system?", "Deoxys does it [1].", True,
                    citations=[Citation(1, "p1", "Deoxys", 2024, ["Deoxys recommends."], 0.9, byline="Li et al.")],
                    contexts=[hit("p1", "Deoxys", "Deoxys recommends.")])
    declined = Answer("Who won in 1850?", "Cannot answer from the indexed papers.", False)
    conversation = {**new_conversation(), "title": "Cloud / nodes: a <test>?",
                    "turns": [turn_record(answer), turn_record(declined)]}
    store.save("alice", conversation)
    assert [p.name for p in (tmp_path / "conversations" / "alice").iterdir()] == [f"{conversation['id']}.json"]
    again = store.load("alice", conversation["id"])
    assert again["turns"][0]["answer"]["citations"][0]["sentences"] == ["Deoxys recommends."]
    assert history(again)[0] == {"question": "Which system?", "text": "Deoxys does it [1].", "cited": ["p1"]}
    assert store.load("bob", conversation["id"]) is None and store.listing("bob") == []  # each user their own
    assert store.load("alice", "../../etc/passwd") is None
    assert [c["title"] for c in store.listing("alice")] == ["Cloud / nodes: a <test>?"]

    exported = to_markdown(again)
    assert exported.startswith("# Cloud / nodes: a <test>?\n")
    assert "## Which system?\n\nDeoxys does it [1].\n\n**References**\n\n[1] Deoxys (Li et al., 2024)" in exported
    assert "## Who won in 1850?\n\nCannot answer from the indexed papers." in exported  # a decline keeps its question
    assert file_name(again["title"]) == "Cloud-nodes-a-test.md"
    assert user_folder(None) == "local" and user_folder("../x") != "../x" and "/" not in user_folder("../x")
    store.delete("alice", conversation["id"])
    assert store.listing("alice") == []


def test_example_questions_come_from_the_library_and_the_newest_panel_shows_first():
    from paperqa_local.ui.chatview import example_questions, sources_panel

    papers = [{"title": f"Paper number {n}", "abstract": True} for n in range(9)] + [{"title": "No text", "abstract": False}]
    questions = example_questions(papers)
    assert questions == ["What does “Paper number 0” contribute?", "What does “Paper number 3” contribute?",
                         "What does “Paper number 6” contribute?"]
    assert example_questions([]) == []
    older = '<div class="pq-turn" id="pq-turn-1" hidden>one</div>'
    newest = '<div class="pq-turn" id="pq-turn-2" hidden>two</div>'
    assert sources_panel([older, newest]) == '<div class="pq-turn" id="pq-turn-2">two</div>' + older
    assert "appear here" in sources_panel([])

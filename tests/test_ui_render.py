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

"""The UI's HTML: pure functions from results to escaped HTML (and Markdown that renders exactly as written).

Every string that comes from a paper, a file or the model is escaped here before it reaches HTML or Markdown,
so an abstract holding `<script>` or `<img onerror>` shows as text.
"""

import html
import re
from pathlib import Path
from typing import Any

MARKER = re.compile(r"\[(\d+)\]")
# characters that Markdown (or KaTeX) would act on: written as numeric entities they show as themselves
_MARKDOWN_ACTIVE = {ord(ch): f"&#{ord(ch)};" for ch in "\\`*_{}[]()#+-!|~$="}
EMPTY_SOURCES = '<p class="pq-empty">The papers behind an answer appear here. Click a citation number to open one.</p>'


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def markup(text: str) -> str:
    """Text for a Markdown component that renders exactly as written: no HTML, no formatting, no links. (Quotes
    stay as they are: escaped, their "&#x27;" would have its "#" escaped again and show as written.)"""
    return html.escape(str(text), quote=False).translate(_MARKDOWN_ACTIVE)


def highlight(text: str, sentences: list[str]) -> str:
    """The escaped text with each supporting sentence it contains in <mark>."""
    text = " ".join(text.split())
    spans = []
    for sentence in sentences:
        start = text.find(" ".join(sentence.split()))
        if start >= 0:
            spans.append((start, start + len(" ".join(sentence.split()))))
    parts, position = [], 0
    for start, end in sorted(spans):
        if start < position:
            continue
        parts += [esc(text[position:start]), f"<mark>{esc(text[start:end])}</mark>"]
        position = end
    parts.append(esc(text[position:]))
    return "".join(parts)


def paper_facts(year: int | None, metadata: dict[str, Any], score: float | None, page: int | None = None) -> str:
    facts = [str(year)] if year else []
    if metadata.get("author_count"):
        count = int(metadata["author_count"])
        facts.append(f"{count} author{'s' if count != 1 else ''}")
    if page is not None:
        facts.append(f"p. {page}")
    if score is not None:
        facts.append(f"score {score:.3f}")
    return " · ".join(facts)


def paper_card(anchor: str, label: str, hit, abstract: str, sentences: list[str] | None = None,
               cited: bool = False, page: int | None = None, opened: bool = False) -> str:
    """One paper as a collapsible card: title, year, authors, page, score; the abstract with its support marked."""
    url = hit.metadata.get("url") or ""
    link = (f' <a class="pq-link" href="{esc(url)}" target="_blank" rel="noopener noreferrer">link</a>'
            if url.startswith(("https://", "http://")) else "")
    return (
        f'<details class="pq-card{" pq-cited" if cited else ""}" id="{esc(anchor)}" data-paper-id="{esc(hit.paper_id)}"'
        f'{" open" if opened else ""}><summary><span class="pq-key">{esc(label)}</span> '
        f'<span class="pq-title">{esc(hit.title)}</span> '
        f'<span class="pq-facts">{esc(paper_facts(hit.year, hit.metadata, hit.score, page))}</span></summary>'
        f'<div class="pq-abstract">{highlight(abstract, sentences or [])}{link}</div></details>'
    )


def preview(citation) -> str:
    """What hovering a chip shows: the title, the year and the sentence that supports the claim."""
    when = f" ({citation.year})" if citation.year else ""
    support = f" — “{citation.sentences[0]}”" if citation.sentences else ""
    return f"{citation.title}{when}{support}"


def chip(turn, key: int, citation) -> str:
    # the chatbot's sanitiser drops data-* attributes but keeps href, class and title
    return f'<a class="pq-chip" href="#pq-src-{turn}-{key}" title="{esc(preview(citation))}">{key}</a>'


def chipped(text: str, turn, citations, escape=esc) -> str:
    """`text` escaped, each [n] of a cited key a chip; two chips side by side get a thin space between them,
    so that "[4][2]" never reads as 42."""
    by_key = {c.key: c for c in citations}
    pieces = MARKER.split(text)  # text, key, text, key, ...
    out = []
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            out.append("\u2009" if not piece and 0 < index < len(pieces) - 1 else escape(piece))
        elif int(piece) in by_key:
            out.append(chip(turn, int(piece), by_key[int(piece)]))
        else:
            out.append(escape(f"[{piece}]"))
    return "".join(out)


def copy_link(turn: int) -> str:
    return (f'<p class="pq-tools"><a class="pq-copy" href="#pq-copy-{turn}" '
            'title="Copy this answer with its references">Copy answer</a></p>')


def answer_html(answer, turn: int) -> str:
    """The final answer for the chat: text with citation chips, a "not reported" notice, or a distinct decline;
    each with a copy link (the text it copies is in the sources panel, `copy_text`)."""
    from ..answer import DECLINE

    if not answer.answerable and answer.text != DECLINE:  # the sources say what is asked is not reported
        return (f'<div class="pq-notreported" id="pq-answer-{turn}">\n\n<span class="pq-label">Not reported</span> '
                f'{markup(answer.text)}\n\n{copy_link(turn)}</div>')
    if not answer.answerable:
        return (
            f'<div class="pq-decline" id="pq-answer-{turn}">\n\n<span class="pq-label">No answer</span> '
            f"{markup(answer.text)} The closest papers found are listed under Sources; try rephrasing, "
            f"widening the year filter, or adding papers in the Library tab.\n\n{copy_link(turn)}</div>"
        )
    text = answer.text
    for sentence in answer.uncited_sentences:  # shown, but never as cited
        text = text.replace(sentence, f"\x00{sentence}\x01", 1)
    body = chipped(text, turn, answer.citations, markup).replace(
        "\x00", '<span class="pq-unsupported" title="no cited source supports this">').replace("\x01", "</span>")
    note = (f'\n\n<p class="pq-dropped">{len(answer.dropped)} figure(s) or name(s) left out: no cited source gives them.</p>'
            if answer.dropped else "")
    return f'<div class="pq-answer" id="pq-answer-{turn}">\n\n{body}{note}\n\n{copy_link(turn)}</div>'


VERDICT_CLASS = {"SUPPORTS": "pq-supports", "CONTRADICTS": "pq-contradicts", "NOT ENOUGH INFO": "pq-nei"}


def verdict_html(answer, abstracts: dict[str, str]) -> str:
    """A claim check: the verdict, the model's reason with citation chips, then the papers it rests on."""
    verdict = answer.verdict or "NOT ENOUGH INFO"
    reason = answer.text.split(":", 1)[1].strip() if answer.text.startswith(verdict) else answer.text
    return (f'<div class="pq-verdict {VERDICT_CLASS.get(verdict, "pq-nei")}" id="pq-verdict-result">'
            f'<p class="pq-verdict-label"><strong>{esc(verdict)}</strong></p><p>{chipped(reason, "check", answer.citations)}</p></div>'
            + sources_html(answer, "check", abstracts))


def streaming_html(text: str) -> str:
    return f'<div class="pq-streaming">\n\n{markup(text)}▍\n\n</div>'


def stopped_html(text: str) -> str:
    """An answer stopped before it cited anything: what was written so far, marked as stopped."""
    return f'<div class="pq-stopped">\n\n{markup(text.strip())} … (stopped)\n\n</div>'


WAITING_HTML = ('<div class="pq-waiting">\n\nWaiting for the model… (with questions ahead of this one, the queue '
                "position shows at the bottom right)\n\n</div>")


def sources_html(answer, turn, abstracts: dict[str, str], hidden: bool = False, copy_text: str | None = None,
                 pending: bool = False) -> str:
    """The sources of one answer: each cited paper (in citation order), then the retrieved ones not cited.
    `pending`: retrieval is done and the answer is still being written (nothing is cited yet); `copy_text` is
    what the answer's copy link copies."""
    by_id = {hit.paper_id: hit for hit in answer.contexts}
    cited_ids = {c.paper_id for c in answer.citations}
    parts = [f'<div class="pq-turn{" pq-pending" if pending else ""}" id="pq-turn-{turn}"{" hidden" if hidden else ""}>',
             f'<p class="pq-question">Sources for: <q>{esc(answer.question)}</q></p>']
    if copy_text is not None:
        parts.append(f'<pre class="pq-copy-text" id="pq-copy-text-{turn}" hidden>{esc(copy_text)}</pre>')
    if answer.citations:
        parts.append("<h4>Cited</h4>")
        for c in answer.citations:
            hit = by_id.get(c.paper_id)
            if hit is not None:
                parts.append(paper_card(f"pq-src-{turn}-{c.key}", f"[{c.key}]", hit, abstracts.get(c.paper_id, hit.text),
                                        c.sentences, cited=True, page=getattr(c, "page", None)))
    uncited = [hit for hit in answer.contexts if hit.paper_id not in cited_ids]
    if uncited:
        parts.append("<h4>Retrieved — the answer is being written</h4>" if pending else "<h4>Retrieved, not cited</h4>")
        for rank, hit in enumerate(uncited, 1):
            parts.append(paper_card(f"pq-ret-{turn}-{rank}", "·", hit, abstracts.get(hit.paper_id, hit.text)))
    if not answer.contexts:
        parts.append("<p>No paper matched the question (check the year filter).</p>")
    parts.append("</div>")
    return "".join(parts)


def search_html(query: str, hits, abstracts: dict[str, str]) -> str:
    """Library results; each card's score is the fused keyword + semantic score of this search."""
    if not hits:
        return f'<p class="pq-empty">No paper matches <q>{esc(query)}</q>.</p>'
    cards = [paper_card(f"pq-hit-{rank}", f"{rank}.", hit, abstracts.get(hit.paper_id, hit.text))
             for rank, hit in enumerate(hits, 1)]
    return f'<div class="pq-results">{"".join(cards)}</div>'


def ingest_html(report) -> str:
    """What an upload added, and for each file the records it skipped and why."""
    summary = (f"{report.new_papers} new, {report.updated_papers} updated, {report.unchanged_papers} unchanged, "
               f"{report.duplicates} duplicates; {report.chunks_embedded} chunks embedded in {report.seconds:.1f} s.")
    rows = []
    for file in report.files:
        problems = [p for p in report.problems if p.source == file]
        why = "<br>".join(f"{esc(p.location)}: {esc(p.reason)}" for p in problems) or "all records read"
        rows.append(f"<tr><td>{esc(Path(file).name)}</td><td>{len(problems)}</td><td>{why}</td></tr>")
    return (f'<div class="pq-report"><p>{esc(summary)}</p><table><thead><tr><th>File</th><th>Skipped</th>'
            f'<th>Why</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def status_text(answer, stopped: bool) -> str:
    t = answer.timings
    parts = [f"answered in {t.get('total_ms', 0) / 1000:.1f} s"]
    if t.get("llm_ttft_ms"):
        parts.append(f"first token after {t['ttft_ms'] / 1000:.1f} s")
    if t.get("decode_tokens_per_s"):
        parts.append(f"{t['decode_tokens_per_s']:.1f} tokens/s")
    if answer.uncited_sentences:
        parts.append(f"{len(answer.uncited_sentences)} sentence(s) supported by no source")
    if answer.dropped:
        parts.append(f"{len(answer.dropped)} unsupported figure(s) or name(s) left out")
    if stopped:
        parts.insert(0, "stopped")
    elif not answer.answerable:
        parts.insert(0, "no answer in the indexed papers")
    return markup(" · ".join(parts))


def undated_note(hidden: int) -> str:
    """The note under results when a year filter hides papers that have no year (a Markdown component's text)."""
    if not hidden:
        return ""
    return markup(f"{hidden} paper{'s' if hidden != 1 else ''} without a year hidden "
                  "(tick 'Include papers without a year' to include them)")

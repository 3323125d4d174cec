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
    """Text for a Markdown component that renders exactly as written: no HTML, no formatting, no links."""
    return esc(text).translate(_MARKDOWN_ACTIVE)


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


def paper_facts(year: int | None, metadata: dict[str, Any], score: float | None) -> str:
    facts = [str(year)] if year else []
    if metadata.get("author_count"):
        count = int(metadata["author_count"])
        facts.append(f"{count} author{'s' if count != 1 else ''}")
    if score is not None:
        facts.append(f"score {score:.3f}")
    return " · ".join(facts)


def paper_card(anchor: str, label: str, hit, abstract: str, sentences: list[str] | None = None,
               cited: bool = False) -> str:
    """One paper as a collapsible card: title, year, authors, score; the abstract with its support marked."""
    url = hit.metadata.get("url") or ""
    link = (f' <a class="pq-link" href="{esc(url)}" target="_blank" rel="noopener noreferrer">link</a>'
            if url.startswith(("https://", "http://")) else "")
    return (
        f'<details class="pq-card{" pq-cited" if cited else ""}" id="{esc(anchor)}" data-paper-id="{esc(hit.paper_id)}"'
        f'><summary><span class="pq-key">{esc(label)}</span> '
        f'<span class="pq-title">{esc(hit.title)}</span> '
        f'<span class="pq-facts">{esc(paper_facts(hit.year, hit.metadata, hit.score))}</span></summary>'
        f'<div class="pq-abstract">{highlight(abstract, sentences or [])}{link}</div></details>'
    )


def chip(turn: int, key: int, title: str) -> str:
    # the chatbot's sanitiser drops data-* attributes but keeps href, class and title
    return f'<a class="pq-chip" href="#pq-src-{turn}-{key}" title="{esc(title)}">{key}</a>'


def answer_html(answer, turn: int) -> str:
    """The final answer for the chat: text with citation chips, or a distinct 'cannot answer' notice."""
    from ..answer import DECLINE

    if not answer.answerable and answer.text != DECLINE:  # the sources say what is asked is not reported
        return f'<div class="pq-notreported">\n\n{markup(answer.text)}\n\n</div>'
    if not answer.answerable:
        return (
            '<div class="pq-decline">\n\n'
            f"ℹ️ {markup(answer.text)} The closest papers found are listed under Sources; try rephrasing, "
            "widening the year filter, or adding papers in the Library tab.\n\n</div>"
        )
    titles = {c.key: c.title for c in answer.citations}
    text = answer.text
    for sentence in answer.uncited_sentences:  # shown, but never as cited
        text = text.replace(sentence, f"\x00{sentence}\x01", 1)
    pieces = MARKER.split(text)  # text, key, text, key, ...
    out = []
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            out.append(markup(piece).replace("\x00", '<span class="pq-unsupported" title="no cited source supports this">')
                       .replace("\x01", "</span>"))
        elif int(piece) in titles:
            out.append(chip(turn, int(piece), titles[int(piece)]))
        else:
            out.append(markup(f"[{piece}]"))
    note = (f'\n\n<p class="pq-dropped">{len(answer.dropped)} figure(s) or name(s) left out: no cited source gives them.</p>'
            if answer.dropped else "")
    return f'<div class="pq-answer" id="pq-answer-{turn}">\n\n{"".join(out)}{note}\n\n</div>'


VERDICT_CLASS = {"SUPPORTS": "pq-supports", "CONTRADICTS": "pq-contradicts", "NOT ENOUGH INFO": "pq-nei"}


def verdict_html(answer, abstracts: dict[str, str]) -> str:
    """A claim check: the verdict, the model's reason with citation chips, then the papers it rests on."""
    verdict = answer.verdict or "NOT ENOUGH INFO"
    reason = answer.text.split(":", 1)[1].strip() if answer.text.startswith(verdict) else answer.text
    titles = {c.key: c.title for c in answer.citations}
    out = []
    for index, piece in enumerate(MARKER.split(reason)):
        if index % 2 == 0:
            out.append(esc(piece))
        elif int(piece) in titles:
            out.append(chip("check", int(piece), titles[int(piece)]))
        else:
            out.append(esc(f"[{piece}]"))
    return (f'<div class="pq-verdict {VERDICT_CLASS.get(verdict, "pq-nei")}" id="pq-verdict-result">'
            f'<p class="pq-verdict-label"><strong>{esc(verdict)}</strong></p><p>{"".join(out)}</p></div>'
            + sources_html(answer, "check", abstracts))


def streaming_html(text: str) -> str:
    return f'<div class="pq-streaming">\n\n{markup(text)}▍\n\n</div>'


def stopped_html(text: str) -> str:
    """An answer stopped before it cited anything: what was written so far, marked as stopped."""
    return f'<div class="pq-stopped">\n\n{markup(text.strip())} … (stopped)\n\n</div>'


WAITING_HTML = ('<div class="pq-waiting">\n\nWaiting for the model… (with questions ahead of this one, the queue '
                "position shows at the bottom right)\n\n</div>")


def sources_html(answer, turn: int, abstracts: dict[str, str], hidden: bool = False) -> str:
    """The sources of one answer: each cited paper (in citation order), then the retrieved ones not cited."""
    by_id = {hit.paper_id: hit for hit in answer.contexts}
    cited_ids = {c.paper_id for c in answer.citations}
    parts = [f'<div class="pq-turn" id="pq-turn-{turn}"{" hidden" if hidden else ""}>',
             f'<p class="pq-question">Sources for: <q>{esc(answer.question)}</q></p>']
    if answer.citations:
        parts.append("<h4>Cited</h4>")
        for c in answer.citations:
            hit = by_id.get(c.paper_id)
            if hit is not None:
                parts.append(paper_card(f"pq-src-{turn}-{c.key}", f"[{c.key}]", hit,
                                        abstracts.get(c.paper_id, hit.text), c.sentences, cited=True))
    uncited = [hit for hit in answer.contexts if hit.paper_id not in cited_ids]
    if uncited:
        parts.append("<h4>Retrieved, not cited</h4>")
        for rank, hit in enumerate(uncited, 1):
            parts.append(paper_card(f"pq-ret-{turn}-{rank}", "·", hit, abstracts.get(hit.paper_id, hit.text)))
    if not answer.contexts:
        parts.append("<p>No paper matched the question (check the year filter).</p>")
    parts.append("</div>")
    return "".join(parts)


def search_html(query: str, hits, abstracts: dict[str, str]) -> str:
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

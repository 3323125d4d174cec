"""The browser UI: Gradio Blocks over the `PaperQA` facade, with no answering logic of its own.

Three tabs: Ask (streamed answers whose citation chips open the paper in the sources panel), Library (paper
count, search, upload) and Map (the corpus projected to 2-D, the last answer's papers highlighted).

Safety rules kept here:
- every string that comes from a paper, a file or the model is escaped before it reaches HTML or Markdown,
  so an abstract holding `<script>` or `<img onerror>` shows as text;
- it binds to 127.0.0.1; another host needs a password (`check_serving`), and it never makes a share link;
- there is one LLM, so asking queues (concurrency 1, the position shown) while search, upload and the map
  stay responsive.
"""

# No `from __future__ import annotations` here: Gradio reads the `gr.Request` annotations at run time.
import html
import ipaddress
import logging
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from .config import PROJECT_ROOT
from .errors import ConfigError, PaperQAError

log = logging.getLogger(__name__)

DEFAULT_SEEDS = PROJECT_ROOT / "seeds"
UPLOAD_TYPES = [".txt", ".jsonl", ".json", ".csv"]
UPLOAD_LIMIT_MB = 200  # per file, in the browser: a larger library goes in with `paperqa-local ingest`
MAP_POINTS = 5000  # a bigger corpus is sampled (evenly, deterministically); the last answer's papers always show
MARKER = re.compile(r"\[(\d+)\]")
# characters that Markdown (or KaTeX) would act on: written as numeric entities they show as themselves
_MARKDOWN_ACTIVE = {ord(ch): f"&#{ord(ch)};" for ch in "\\`*_{}[]()#+-!|~$="}


# serving rules


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _credential(text: str, where: str) -> tuple[str, str]:
    user, sep, password = text.strip().partition(":")
    if not sep or not user or not password:
        raise ConfigError(f"{where}: expected user:password, e.g. --auth alice:s3cret")
    return user, password


def read_credentials(auth: str | None = None, auth_file: str | Path | None = None) -> list[tuple[str, str]]:
    """`--auth user:pass` and the `user:pass` lines of `--auth-file` (blank lines and # comments skipped)."""
    credentials = [_credential(auth, "--auth")] if auth else []
    if auth_file:
        path = Path(auth_file).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read auth file {path}: {exc.strerror} — give a file with one user:password per line") from exc
        found = [_credential(line, f"{path}:{n}") for n, line in enumerate(lines, 1)
                 if line.strip() and not line.lstrip().startswith("#")]
        if not found:
            raise ConfigError(f"auth file {path} holds no user:password line — add one, e.g. alice:s3cret")
        credentials += found
    return credentials


def check_serving(host: str, credentials: list[tuple[str, str]]) -> None:
    """Anyone who can reach a non-loopback address could use the app: require a password there."""
    if not is_loopback(host) and not credentials:
        raise ConfigError(
            f"refusing to serve on {host} without a password: anyone on the network could use it — "
            "add --auth user:password (or --auth-file FILE with one user:password per line), or leave out --host "
            "to serve on 127.0.0.1 only"
        )


# rendering: pure functions from results to escaped HTML


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
    from .answer import DECLINE

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


# the corpus map


def project(vectors):
    """PCA to two dimensions, with a deterministic sign for each axis."""
    import numpy as np

    if len(vectors) < 3:
        return np.zeros((len(vectors), 2), dtype=np.float32)
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    axes *= np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])[:, None]
    return centred @ axes.T


class CorpusMap:
    """Papers projected once per corpus version; each answer only recolours them."""

    def __init__(self, qa):
        self.qa = qa
        self._rows: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._rows = None

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._rows is None:
                import numpy as np

                _, vectors, metadatas = self.qa.store.embeddings()
                papers: dict[str, list[int]] = {}
                for row, meta in enumerate(metadatas):
                    papers.setdefault(meta["paper_id"], []).append(row)
                ids = sorted(papers)
                first = {pid: metadatas[papers[pid][0]] for pid in ids}
                means = np.stack([vectors[papers[pid]].mean(axis=0) for pid in ids]) if ids else np.zeros((0, 2))
                xy = project(means)
                self._rows = [{"paper_id": pid, "title": first[pid].get("title", ""), "year": first[pid].get("year"),
                               "x": float(x), "y": float(y)} for pid, (x, y) in zip(ids, xy)]
            return self._rows

    def frame(self, retrieved: list[str], cited: list[str]):
        import pandas as pd

        rows = self.rows()
        status = {pid: "retrieved" for pid in retrieved} | {pid: "cited" for pid in cited}
        step = max(1, len(rows) // MAP_POINTS)
        shown = [row for n, row in enumerate(rows) if n % step == 0 or row["paper_id"] in status]
        order = {"other": 0, "retrieved": 1, "cited": 2}  # highlights drawn last, on top
        data = [{"x": row["x"], "y": row["y"], "title": row["title"], "year": str(row["year"] or "unknown"),
                 "paper": status.get(row["paper_id"], "other")} for row in shown]
        data.sort(key=lambda row: order[row["paper"]])
        return pd.DataFrame(data, columns=["x", "y", "title", "year", "paper"])


def years_frame(qa):
    import pandas as pd

    per_year = qa.stats()["papers_per_year"]
    return pd.DataFrame({"year": [str(year) for year in per_year], "papers": list(per_year.values())})


# the app

CSS = """
.pq-chip { display:inline-block; min-width:1.4em; padding:0 .35em; margin:0 .1em; border-radius:.7em;
  background:var(--color-accent-soft); color:var(--color-accent); font-size:.8em; font-weight:600;
  text-align:center; text-decoration:none !important; cursor:pointer; vertical-align:super; line-height:1.4; }
.pq-chip:hover { background:var(--color-accent); color:white; }
.pq-verdict { border-left:4px solid #888; padding:.2em .8em; background:var(--background-fill-secondary); }
.pq-supports { border-left-color:#2ca02c; } .pq-contradicts { border-left-color:#d62728; } .pq-nei { border-left-color:#888; }
.pq-decline { border-left:4px solid var(--color-accent); padding:.2em .8em; background:var(--background-fill-secondary); }
.pq-notreported { border-left:4px solid var(--border-color-primary); padding:.2em .8em; font-style:italic; }
.pq-unsupported { text-decoration:underline dotted; opacity:.75; }
.pq-unsupported::after { content:" (unsupported)"; font-size:.85em; }
.pq-dropped { font-size:.85em; opacity:.8; }
.pq-card { border:1px solid var(--border-color-primary); border-radius:8px; padding:.4em .7em; margin:.4em 0; }
.pq-card summary { cursor:pointer; }
.pq-card.pq-selected { border-color:var(--color-accent); box-shadow:0 0 0 2px var(--color-accent-soft); }
.pq-title { font-weight:600; }
.pq-facts { color:var(--body-text-color-subdued); font-size:.85em; margin-left:.3em; }
.pq-abstract { margin-top:.4em; font-size:.92em; line-height:1.5; }
.pq-abstract mark { background:#fff2a8; color:inherit; padding:0 .1em; }
.pq-question { color:var(--body-text-color-subdued); font-size:.9em; }
.pq-report table { width:100%; font-size:.9em; }
"""

# Clicking a citation chip opens that paper in the sources panel, without a round trip to the server.
HEAD = """
<script>
(() => {
  document.addEventListener("click", (event) => {
    const chip = event.target.closest && event.target.closest("a.pq-chip");
    if (!chip) return;
    const match = /^#pq-src-(\\d+|check)-(\\d+)$/.exec(chip.getAttribute("href") || "");
    if (!match) return;
    event.preventDefault();
    event.stopPropagation();
    // a chat answer's sources live in #pq-sources, one .pq-turn per answer; a claim check's in #pq-verdict
    const panel = document.getElementById(match[1] === "check" ? "pq-verdict" : "pq-sources");
    if (!panel) return;
    panel.querySelectorAll(".pq-turn").forEach((turn) => { turn.hidden = turn.id !== "pq-turn-" + match[1]; });
    panel.querySelectorAll(".pq-selected").forEach((card) => card.classList.remove("pq-selected"));
    const card = document.getElementById("pq-src-" + match[1] + "-" + match[2]);
    if (!card) return;
    card.open = true;
    card.classList.add("pq-selected");
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }, true);
})();
</script>
"""

EMPTY_SOURCES = '<p class="pq-empty">The papers behind an answer appear here. Click a citation number to open one.</p>'


class Session:
    """What one browser tab shares between its events: Stop and Clear reach a running answer through it."""

    def __init__(self):
        self.stop = threading.Event()
        self.chat_id = 0  # Clear starts a new chat; an answer still finishing for the old one is dropped


def model_choices(settings) -> list[tuple[str, str]]:
    """The presets first, then any other GGUF in models/."""
    from .models import BUNDLED, PRESETS, list_models

    choices = []
    rows = list_models(settings.models_dir)
    for preset, name in PRESETS.items():
        row = next((r for r in rows if r["name"] == name), None)
        about = row["about"] if row else name
        missing = "" if row and row["present"] else " — not assembled yet"
        choices.append((f"{preset} ({about}){missing}", preset))
    choices += [(f"{row['name']} (local GGUF)", row["file"]) for row in rows if row["name"] not in BUNDLED]
    if settings.model not in {value for _, value in choices}:
        choices.append((settings.model, settings.model))
    return choices


def build_app(qa):
    """The Gradio Blocks app over `qa`; `launch` queues and serves it."""
    import gradio as gr

    from .models import resolve

    corpus_map = CorpusMap(qa)
    sessions: dict[str, Session] = {}
    exports = Path(tempfile.mkdtemp(prefix="paperqa-answers-"))

    def session(request: gr.Request | None) -> Session:
        return sessions.setdefault(getattr(request, "session_hash", None) or "-", Session())

    def header() -> str:
        papers = qa.stats()["papers"]
        return markup(f"{papers} papers indexed · model: {qa.settings.model}")

    def abstracts_for(hits) -> dict[str, str]:
        return qa.store.paper_texts([hit.paper_id for hit in hits])

    def years(year_from: str, year_to: str) -> tuple[int | None, int | None]:
        """The year filter of the settings panel: empty means no limit."""
        for name, value in (("From year", year_from), ("To year", year_to)):
            if (value or "").strip() and not re.fullmatch(r"\d{4}", value.strip()):
                raise gr.Error(f"{name} must be a year like 2020, or empty for no limit.")
        year_from = int(year_from) if (year_from or "").strip() else None
        year_to = int(year_to) if (year_to or "").strip() else None
        if year_from and year_to and year_from > year_to:
            raise gr.Error(f"The year filter runs from {year_from} to {year_to}: swap them.")
        return year_from, year_to

    # Ask: `start` shows the question at once; `respond` waits its turn for the LLM and streams the answer
    def start(question: str, chat: list, year_from, year_to, request: gr.Request):
        """Show the question at once and lock the box; an empty question or a bad filter asks nothing."""
        if not question.strip():
            return gr.skip(), gr.skip(), gr.skip(), ""
        try:
            years(year_from, year_to)
        except gr.Error as exc:
            gr.Warning(exc.message)
            return gr.skip(), gr.skip(), gr.skip(), ""
        session(request).stop.clear()
        chat = chat + [{"role": "user", "content": markup(question)},
                       {"role": "assistant", "content": WAITING_HTML}]
        return gr.update(value="", interactive=False), gr.update(interactive=False), chat, question

    def respond(question: str, chat: list, turns: list, k, year_from, year_to, request: gr.Request):
        if not question.strip():
            yield (gr.skip(),) * 7
            return
        me = session(request)
        stop, chat_id = me.stop, me.chat_id
        turn = len(turns) + 1
        year_from, year_to = years(year_from, year_to)
        if stop.is_set():
            chat[-1]["content"] = markup("Stopped before the answer began.")
            yield chat, *(gr.skip(),) * 6
            return
        history = [{"question": t["question"], "text": t["text"], "cited": t.get("cited", [])} for t in turns]
        written, answer = "", None
        try:
            for event in qa.stream(question, k=int(k), year_from=year_from, year_to=year_to, history=history, stop=stop):
                if me.chat_id != chat_id:  # the chat was cleared: stop, and show nothing more
                    stop.set()
                elif isinstance(event, str):
                    written += event
                    chat[-1]["content"] = streaming_html(written)
                    yield chat, *(gr.skip(),) * 6
                else:
                    answer = event
        except PaperQAError as exc:
            chat[-1]["content"] = markup(f"Error: {exc}")
            yield chat, *(gr.skip(),) * 6
            raise gr.Error(esc(exc)) from exc
        if me.chat_id != chat_id:
            # the browser shows a running event's last output when it ends, whatever came in between
            yield cleared()
            return
        stopped = stop.is_set()
        chat[-1]["content"] = stopped_html(written) if stopped and not answer.answerable else answer_html(answer, turn)
        panel = sources_html(answer, turn, abstracts_for(answer.contexts))
        turns = turns + [{"question": answer.question, "text": answer.text, "sources": panel,
                          "cited": [c.paper_id for c in answer.citations]}]
        older = [t["sources"].replace('class="pq-turn"', 'class="pq-turn" hidden', 1) for t in turns[:-1]]
        path = exports / f"{getattr(request, 'session_hash', None) or 'answer'}-{turn}.md"
        document = f"## {answer.question}\n\n{answer.to_markdown()}\n"
        path.write_text(document, encoding="utf-8")
        last = {"retrieved": [hit.paper_id for hit in answer.contexts], "cited": [c.paper_id for c in answer.citations]}
        yield (chat, "".join([panel, *reversed(older)]), document, gr.update(value=str(path), interactive=True),
               status_text(answer, stopped), turns, last)

    def stop(request: gr.Request):
        session(request).stop.set()

    def cleared() -> tuple:
        """The answer outputs of an empty chat."""
        return [], EMPTY_SOURCES, "", gr.update(value=None, interactive=False), "", [], {"retrieved": [], "cited": []}

    def clear(request: gr.Request):
        session(request).stop.set()
        session(request).chat_id += 1
        return *cleared(), gr.update(interactive=True), gr.update(interactive=True)

    def forget(request: gr.Request):
        sessions.pop(getattr(request, "session_hash", None), None)

    def unlock():
        return gr.update(interactive=True), gr.update(interactive=True)

    # Library
    def library_search(query: str, k, year_from, year_to):
        if not query.strip():
            return '<p class="pq-empty">Type words to search the titles and abstracts.</p>'
        year_from, year_to = years(year_from, year_to)
        hits = qa.search(query, k=int(k), year_from=year_from, year_to=year_to)
        return search_html(query, hits, abstracts_for(hits))

    def add_files(files, progress=gr.Progress()):
        if not files:
            raise gr.Error("Choose one or more files first: seeds listings (.txt), JSON Lines (.jsonl) or CSV (.csv).")
        too_big = [Path(f).name for f in files if Path(f).stat().st_size > UPLOAD_LIMIT_MB * 2**20]
        if too_big:
            raise gr.Error(f"{esc(', '.join(too_big))}: over {UPLOAD_LIMIT_MB} MB — add a file that large with "
                           "`paperqa-local ingest FILE` (nothing was added)")
        progress(0, desc="Reading files")
        try:
            report = qa.ingest([Path(f) for f in files],
                               progress=lambda done, total: progress((done, total), desc="Embedding", unit="chunks"))
        except PaperQAError as exc:
            raise gr.Error(esc(exc)) from exc
        corpus_map.invalidate()
        return ingest_html(report), None, header()

    def pick_model(model: str):
        try:
            resolve(model, qa.settings.models_dir)
        except PaperQAError as exc:
            gr.Warning(esc(exc))
            return gr.update(value=qa.settings.model), header()
        qa.use_model(model)
        gr.Info(esc(f"Model {model} is used from the next question on (it loads then)."))
        return gr.update(), header()

    # Map
    def draw_map(last: dict):
        return corpus_map.frame(last.get("retrieved", []), last.get("cited", [])), years_frame(qa)

    # the API: one call, one answer
    def ask(question: str, k: int = qa.settings.k, year_from: int | None = None, year_to: int | None = None) -> dict:
        """Answer a question from the indexed papers. Returns the answer as a dict: text with [n] markers,
        answerable, citations (key, paper_id, title, year, supporting sentences, score), contexts, timings,
        and markdown (the text with its reference list)."""
        if not question.strip():
            raise gr.Error("Ask a question: the text is empty.")
        try:
            answer = qa.ask(question, k=int(k), year_from=year_from, year_to=year_to)
        except PaperQAError as exc:
            raise gr.Error(str(exc)) from exc  # for API clients: plain text
        return {**answer.to_dict(), "markdown": answer.to_markdown()}

    def check(claim: str, k: int = qa.settings.k) -> dict:
        """Check a claim against the indexed papers. Returns the answer as a dict whose verdict is SUPPORTS,
        CONTRADICTS or NOT ENOUGH INFO, with the cited papers and their evidence sentences."""
        if not claim.strip():
            raise gr.Error("Write a claim to check: the text is empty.")
        try:
            answer = qa.check(claim, k=int(k))
        except PaperQAError as exc:
            raise gr.Error(str(exc)) from exc
        return {**answer.to_dict(), "markdown": answer.to_markdown()}

    def check_view(claim: str, k):
        if not claim.strip():
            raise gr.Error("Write a claim to check: the text is empty.")
        try:
            answer = qa.check(claim, k=int(k))
        except PaperQAError as exc:
            raise gr.Error(str(exc)) from exc
        return verdict_html(answer, abstracts_for(answer.contexts))

    def search_papers(query: str, k: int = qa.settings.k, year_from: int | None = None,
                      year_to: int | None = None) -> list[dict]:
        """Hybrid (keyword + semantic) search over the indexed papers: for each paper its id, title, year,
        score, best matching text and metadata."""
        hits = qa.search(query, k=int(k), year_from=year_from, year_to=year_to)
        return [{**hit.to_dict(), "text": hit.text, "metadata": hit.metadata} for hit in hits]

    with gr.Blocks(title="paperqa-local") as app:
        turns = gr.State([])
        last = gr.State({"retrieved": [], "cited": []})
        pending = gr.State("")
        with gr.Row():
            gr.Markdown("## paperqa-local — questions answered from your papers, with citations")
            stats = gr.Markdown(elem_id="pq-stats")
        with gr.Accordion("Settings", open=False, elem_id="pq-settings"):
            with gr.Row():
                k = gr.Slider(1, 20, value=qa.settings.k, step=1, label="Papers per answer / search (k)", elem_id="pq-k")
                year_from = gr.Textbox(label="From year", placeholder="any, e.g. 2020", max_lines=1,
                                       elem_id="pq-year-from")
                year_to = gr.Textbox(label="To year", placeholder="any", max_lines=1, elem_id="pq-year-to")
                model = gr.Dropdown(model_choices(qa.settings), value=qa.settings.model, label="Model",
                                    elem_id="pq-model")
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(elem_id="pq-chat", height=460, buttons=[], latex_delimiters=[],
                                          feedback_options=None, show_label=False,
                                          placeholder="Ask about the indexed papers. Follow-up questions work too.")
                        with gr.Row():
                            question = gr.Textbox(placeholder="e.g. Which system recommends mitigation actions for "
                                                  "unhealthy nodes in cloud infrastructure?", show_label=False,
                                                  scale=6, elem_id="pq-question", submit_btn=False)
                            ask_button = gr.Button("Ask", variant="primary", scale=1, elem_id="pq-ask")
                        with gr.Row():
                            stop_button = gr.Button("Stop", size="sm", elem_id="pq-stop")
                            clear_button = gr.Button("Clear chat", size="sm", elem_id="pq-clear")
                            export = gr.DownloadButton("Export answer (.md)", size="sm", interactive=False,
                                                       elem_id="pq-export")
                        status = gr.Markdown(elem_id="pq-status")
                        with gr.Accordion("Answer as Markdown", open=False):
                            answer_md = gr.Textbox(show_label=False, lines=6, buttons=["copy"], interactive=False,
                                                   elem_id="pq-markdown")
                    with gr.Column(scale=2):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(EMPTY_SOURCES, elem_id="pq-sources", js_on_load=None, max_height=640)
            with gr.Tab("Check a claim", id="check"):
                gr.Markdown("Does the literature support a claim? The verdict is SUPPORTS, CONTRADICTS or NOT ENOUGH "
                            "INFO, with the papers and sentences it rests on.")
                with gr.Row():
                    claim = gr.Textbox(placeholder="e.g. Deoxys reduces average VM downtime by 53%", show_label=False,
                                       scale=6, elem_id="pq-claim")
                    check_button = gr.Button("Check", variant="primary", scale=1, elem_id="pq-check")
                verdict = gr.HTML(elem_id="pq-verdict", js_on_load=None)
            with gr.Tab("Library", id="library"):
                with gr.Row():
                    query = gr.Textbox(placeholder="Search titles and abstracts (hybrid keyword + semantic)",
                                       show_label=False, scale=6, elem_id="pq-search")
                    search_button = gr.Button("Search", scale=1, elem_id="pq-search-button")
                results = gr.HTML(elem_id="pq-results", js_on_load=None)
                gr.Markdown("### Add papers\nSeeds listing pages (.txt), JSON Lines (.jsonl) or CSV (.csv) with "
                            "`title` and `abstract` (optional `authors`, `year`, `url`, `doi`, `id`).")
                files = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, label="Files", elem_id="pq-upload")
                add_button = gr.Button("Add to library", variant="primary", elem_id="pq-add")
                report = gr.HTML(elem_id="pq-report", js_on_load=None)
            with gr.Tab("Map", id="map") as map_tab:
                gr.Markdown("Each point is a paper, placed by a 2-D projection (PCA) of its embedding: nearby papers "
                            "are about similar things. The last answer's cited and retrieved papers are highlighted.")
                corpus = gr.ScatterPlot(x="x", y="y", color="paper", tooltip=["title", "year", "paper"],
                                        color_map={"cited": "#d62728", "retrieved": "#ff7f0e", "other": "#b8c2cc"},
                                        x_title="PC 1", y_title="PC 2", height=480, elem_id="pq-map",
                                        show_label=False)
                per_year = gr.BarPlot(x="year", y="papers", title="Papers per year", height=260, elem_id="pq-years",
                                      show_label=False)

        private = {"api_visibility": "private"}
        answer_outputs = [chat, sources, answer_md, export, status, turns, last]
        for trigger in (question.submit, ask_button.click):
            (trigger(start, [question, chat, year_from, year_to], [question, ask_button, chat, pending], queue=False,
                     **private)
             .then(respond, [pending, chat, turns, k, year_from, year_to], answer_outputs, concurrency_limit=1,
                   concurrency_id="llm", show_progress_on=[chat], **private)
             .then(unlock, None, [question, ask_button], queue=False, **private))
        stop_button.click(stop, None, None, queue=False, **private)
        for trigger in (clear_button.click, chat.clear):
            trigger(clear, None, [*answer_outputs, question, ask_button], queue=False, **private)
        last.change(draw_map, [last], [corpus, per_year], **private)
        map_tab.select(draw_map, [last], [corpus, per_year], **private)
        query.submit(library_search, [query, k, year_from, year_to], [results], concurrency_limit=2, **private)
        search_button.click(library_search, [query, k, year_from, year_to], [results], concurrency_limit=2, **private)
        (add_button.click(add_files, [files], [report, files, stats], concurrency_id="ingest", show_progress_on=[files],
                          **private)
         .then(draw_map, [last], [corpus, per_year], **private))
        for trigger in (claim.submit, check_button.click):
            trigger(check_view, [claim, k], [verdict], concurrency_limit=1, concurrency_id="llm",
                    show_progress_on=[verdict], **private)
        model.change(pick_model, [model], [model, stats], **private)
        app.load(header, None, [stats], **private)
        app.unload(forget)
        gr.api(ask, api_name="ask", concurrency_limit=1, concurrency_id="llm")
        gr.api(check, api_name="check", concurrency_limit=1, concurrency_id="llm")
        gr.api(search_papers, api_name="search", concurrency_limit=2)
    return app


def launch(qa, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None, auth_file: str | Path | None = None,
           block: bool = True):
    """Serve the app for `qa`: loopback only unless credentials are given; never a share link."""
    credentials = read_credentials(auth, auth_file)
    check_serving(host, credentials)
    import gradio as gr

    app = build_app(qa)
    app.queue(default_concurrency_limit=1)
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])  # system fonts: nothing fetched from the web
    app.launch(server_name=host, server_port=port, auth=credentials or None, share=False, inbrowser=False,
               ssr_mode=False, mcp_server=False, pwa=False, run_history=False, footer_links=["api"],
               prevent_thread_lock=True, quiet=True, theme=theme, css=CSS, head=HEAD, show_error=True,
               max_file_size=f"{UPLOAD_LIMIT_MB}mb")
    print(f"paperqa-local is serving on {app.local_url}" + (" (login required)" if credentials else "")
          + (" — press Ctrl-C to stop" if block else ""), flush=True)
    if block:
        app.block_thread()
    return app


def warm_up(qa) -> None:
    """Load the embedder, the keyword index and the LLM now, so the first question does not wait for them."""
    try:
        qa.warm_up()
        log.info("models loaded")
    except PaperQAError as exc:  # the UI reports it again, with the fix, on the first question
        log.warning("could not load the models: %s", exc)


def serve(data_dir: str | Path | None = None, model: str | None = None, host: str = "127.0.0.1", port: int = 7860,
          auth: str | None = None, auth_file: str | Path | None = None, seeds: str | Path | None = DEFAULT_SEEDS,
          warm: bool = True, **overrides: Any) -> None:
    """What `python app.py` and `paperqa-local serve` do: check where to serve, index the seeds into an empty
    store, load the models in the background, and serve until interrupted."""
    check_serving(host, read_credentials(auth, auth_file))  # before anything slow
    from .qa import PaperQA

    qa = PaperQA(data_dir=data_dir, model=model, **overrides)
    if seeds and Path(seeds).is_dir() and qa.store.count() == 0:
        print(f"The index at {qa.store.location()} is empty: indexing the seeds in {seeds} first (a minute or two)…",
              file=sys.stderr, flush=True)
        report = qa.ingest([seeds], progress=_log_progress())
        print(f"Indexed {report.new_papers} papers ({len(report.problems)} records skipped).", file=sys.stderr, flush=True)
    if warm:
        threading.Thread(target=warm_up, args=(qa,), name="warm-up", daemon=True).start()
    launch(qa, host=host, port=port, auth=auth, auth_file=auth_file)


def _log_progress():
    shown = {"percent": -10}

    def progress(done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent >= shown["percent"] + 10 or done == total:
            shown["percent"] = percent
            log.info("embedded %d/%d chunks", done, total)

    return progress

"""The Library tab: search with its own year filter (and a plain "no good match" when the best hit is weak), every
stored paper with remove-after-confirmation, the cited references as BibTeX or a Markdown list, and uploads — all
in the library this browser session uses (`shared.of`)."""

# No `from __future__ import annotations` here: Gradio reads the `gr.Request` annotations at run time.
import tempfile
from pathlib import Path

from ..errors import PaperQAError
from .conversations import answer_from_dict
from .render import esc, ingest_html, search_html
from .shared import PRIVATE, Shared

UPLOAD_TYPES = [".txt", ".jsonl", ".json", ".csv", ".bib", ".ris", ".pdf"]
UPLOAD_LIMIT_MB = 200  # per file, in the browser: a larger library goes in with `paperqa-local ingest`
UPLOAD_HELP = ("Seeds listing pages (.txt), JSON Lines (.jsonl) or JSON (.json) or CSV (.csv) with `title` and "
               "`abstract` (optional `authors`, `year`, `url`, `doi`, `id`), a reference manager's export: BibTeX "
               "(.bib), RIS (.ris), or a paper as PDF (.pdf, where this version can read it; the report says if not).")
SCORE_HELP = ("**score**: how well a paper matches, from 0 to 1 — keyword (BM25) and meaning (embedding) matches, "
              "each scaled to this search's best, then added with weights. It ranks papers for this query only; "
              "it is not comparable between searches. When even the best paper is only loosely related (the "
              "same test that makes the Ask tab decline), the results say **no good match**.")
COLUMNS = ["Title", "Year", "Authors", "File"]


def references_of(qa, selected: list[str], last: dict):
    """The papers to export: the selected ones, else those the last answer cited. (Answer, what it is)."""
    from ..types import Answer, Citation

    if selected:
        citations = [Citation.of(n, hit, []) for n, hit in enumerate(qa.paper_hits(selected), 1)]
        return Answer("", "", True, citations=citations), f"the {len(citations)} selected paper(s)"
    answer = answer_from_dict({"question": "", "text": "", "answerable": True,
                               "citations": (last or {}).get("citations", [])})
    return answer, f"the {len(answer.citations)} paper(s) cited by the last answer"


def where(library) -> str:
    return f"Library **{esc(library.name)}** in {esc(library.qa.settings.home)}."


def library_tab(shared: Shared, k, last, stats, switched):
    """Returns the events after which the map is drawn again (an upload, a removal); `switched` is the event of a
    switch of library, after which the tab shows the new one."""
    import gradio as gr

    exports = Path(tempfile.mkdtemp(prefix="paperqa-references-"))

    def library_search(query: str, k, year_from, year_to, include_undated, request: gr.Request):
        if not query.strip():
            raise gr.Error("Type words to search the titles and abstracts: the search box is empty.")
        library = shared.of(request)
        qa = library.qa
        year_from, year_to = shared.years(year_from, year_to)
        hits = qa.search(query, k=int(k), year_from=year_from, year_to=year_to, include_undated=bool(include_undated))
        relevance = qa.relevance(query, hits)
        weak = ""
        if hits and relevance < qa.settings.min_relevance:
            weak = (f'<p class="pq-weak"><strong>No good match</strong>: even the best paper is only loosely related '
                    f"(relevance {relevance:.2f}, below the {qa.settings.min_relevance:.2f} under which a question "
                    "is declined). The closest papers are below; try other words.</p>")
        note = library.undated_note(year_from, year_to, bool(include_undated))
        note = f'<p class="pq-undated" id="pq-lib-undated-note">{note}</p>' if note else ""
        return note + weak + search_html(query, hits, library.abstracts_for(hits))

    def paper_rows(qa):
        papers = qa.papers()
        rows = [[p["title"], p["year"] or "", p["byline"] or "", Path(p["source"] or "").name] for p in papers]
        choices = [(f"{p['title']} ({p['year'] or 'n.d.'})", p["paper_id"]) for p in papers]
        return rows, choices

    def browse(selected, request: gr.Request):
        rows, choices = paper_rows(shared.of(request).qa)
        keep = [pid for pid in selected or [] if pid in {value for _, value in choices}]
        return gr.update(value=rows), gr.update(choices=choices, value=keep)

    def shown(request: gr.Request):
        """After a switch of library: where it is, its papers, and no results or report of the one before."""
        return (where(shared.of(request)), *browse([], request), "", "")

    def exports_for(selected: list[str], last: dict, request: gr.Request):
        answer, what = references_of(shared.of(request).qa, selected or [], last)
        if not answer.citations:
            return ("Nothing to export yet: ask a question in the Ask tab, or select papers above.",
                    gr.update(value=None, interactive=False), gr.update(value=None, interactive=False))
        folder = Path(tempfile.mkdtemp(dir=exports))
        bib, md = folder / "references.bib", folder / "references.md"
        bib.write_text(answer.to_bibtex(), encoding="utf-8")
        md.write_text(answer.references_markdown().replace("  \n", "\n") + "\n", encoding="utf-8")
        return (f"Exports {what}.", gr.update(value=str(bib), interactive=True),
                gr.update(value=str(md), interactive=True))

    def ask_remove(selected: list[str], request: gr.Request):
        if not selected:
            gr.Warning("Select the papers to remove first (the box above the button).")
            return gr.update(visible=False), gr.skip()
        titles = {value: label for label, value in paper_rows(shared.of(request).qa)[1]}
        named = "; ".join(titles.get(pid, pid) for pid in selected[:5]) + (" …" if len(selected) > 5 else "")
        return gr.update(visible=True), esc(f"Remove {len(selected)} paper(s) from the library for good? {named}")

    def remove(selected: list[str], request: gr.Request):
        library = shared.of(request)
        report = library.qa.remove(selected or [])
        library.corpus_map.invalidate()
        gr.Info(f"Removed {len(report.removed)} paper(s) ({report.chunks} chunks).")
        return (gr.update(visible=False), *browse([], request), library.header())

    def add_files(files, request: gr.Request, progress=gr.Progress()):
        library = shared.of(request)  # the library chosen when the files were added, even if switched meanwhile

        def rejected(message: str):
            gr.Warning(message)
            return f'<p class="pq-error">{esc(message)}</p>', gr.skip(), library.header()

        if not files:
            return rejected("Choose one or more files first: " + ", ".join(UPLOAD_TYPES) + ".")
        too_big = [Path(f).name for f in files if Path(f).stat().st_size > UPLOAD_LIMIT_MB * 2**20]
        if too_big:
            return rejected(f"{', '.join(too_big)}: over {UPLOAD_LIMIT_MB} MB — add a file that large with "
                            "`paperqa-local ingest FILE` (nothing was added).")
        progress(0, desc="Reading files")
        try:
            report = library.qa.ingest([Path(f) for f in files],
                                       progress=lambda done, total: progress((done, total), desc="Embedding", unit="chunks"))
        except PaperQAError as exc:
            return rejected(str(exc))
        library.corpus_map.invalidate()
        if not (report.new_papers or report.updated_papers or report.unchanged_papers) and report.problems:
            gr.Warning("Nothing was added: " + str(report.problems[0].reason))
        return ingest_html(report), None, library.header()

    with gr.Tab("Library", id="library") as tab:
        place = gr.Markdown(where(shared.of(None)), elem_id="pq-collection")
        with gr.Row():
            query = gr.Textbox(placeholder="Search titles and abstracts", show_label=False, scale=6, min_width=200,
                               elem_id="pq-search")
            search_button = gr.Button("Search", scale=1, min_width=80, elem_id="pq-search-button")
        with gr.Row():
            lib_from = gr.Textbox(label="From year", placeholder="any", max_lines=1, min_width=120,
                                  elem_id="pq-lib-year-from")
            lib_to = gr.Textbox(label="To year", placeholder="any", max_lines=1, min_width=120,
                                elem_id="pq-lib-year-to")
            lib_undated = gr.Checkbox(False, label="Include papers without a year", min_width=120,
                                      elem_id="pq-lib-include-undated")
        gr.Markdown(SCORE_HELP, elem_id="pq-score-help")
        results = gr.HTML(elem_id="pq-results", js_on_load=None)
        with gr.Accordion("All papers", open=False, elem_id="pq-all-papers"):
            table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, max_height=360, elem_id="pq-papers")
            selected = gr.Dropdown([], multiselect=True, label="Select papers (to remove, or to export below)",
                                   elem_id="pq-select")
            remove_button = gr.Button("Remove selected…", size="sm", variant="stop", elem_id="pq-remove")
            with gr.Row(visible=False, elem_id="pq-confirm-remove") as confirm:
                confirm_text = gr.Markdown()
                yes = gr.Button("Yes, remove", size="sm", variant="stop", elem_id="pq-remove-yes")
                no = gr.Button("Cancel", size="sm", elem_id="pq-remove-no")
        gr.Markdown("### Export references")
        what = gr.Markdown("Nothing to export yet: ask a question in the Ask tab, or select papers above.",
                           elem_id="pq-export-what")
        with gr.Row():
            bib = gr.DownloadButton("BibTeX (.bib)", size="sm", interactive=False, elem_id="pq-export-bib")
            md = gr.DownloadButton("Markdown list (.md)", size="sm", interactive=False, elem_id="pq-export-refs")
        gr.Markdown("### Add papers\n" + UPLOAD_HELP)
        files = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, label="Files", elem_id="pq-upload")
        add_button = gr.Button("Add to library", variant="primary", elem_id="pq-add")
        report = gr.HTML(elem_id="pq-report", js_on_load=None)

    inputs = [query, k, lib_from, lib_to, lib_undated]
    for trigger in (query.submit, search_button.click, lib_from.submit, lib_to.submit):
        trigger(library_search, inputs, [results], concurrency_limit=2, **PRIVATE)
    tab.select(browse, [selected], [table, selected], **PRIVATE)
    for trigger in (last.change, selected.change):
        trigger(exports_for, [selected, last], [what, bib, md], **PRIVATE)
    remove_button.click(ask_remove, [selected], [confirm, confirm_text], **PRIVATE)
    no.click(lambda: gr.update(visible=False), None, [confirm], **PRIVATE)
    removed = yes.click(remove, [selected], [confirm, table, selected, stats], **PRIVATE)
    added = add_button.click(add_files, [files], [report, files, stats], concurrency_id="ingest",
                             show_progress_on=[files], **PRIVATE)
    added.then(browse, [selected], [table, selected], **PRIVATE)
    switched.then(shown, None, [place, table, selected, results, report], **PRIVATE)
    return added, removed

"""The Gradio Blocks app: a title row, the settings panel, then one builder per tab (Ask in `ask.py`; Check a
claim, Library and Map here), and the API (`api.py`). Each builder lays out its tab and wires its own events.

There is one LLM, so asking and checking queue on it (concurrency id "llm", one at a time, the position
shown) while search, upload and the map stay responsive.
"""

from importlib import resources
from pathlib import Path

from ..errors import PaperQAError
from .api import add_api
from .ask import ask_tab
from .corpus_map import years_frame
from .render import esc, ingest_html, search_html, verdict_html
from .shared import PRIVATE, Filters, Shared

UPLOAD_TYPES = [".txt", ".jsonl", ".json", ".csv", ".bib", ".ris"]
UPLOAD_LIMIT_MB = 200  # per file, in the browser: a larger library goes in with `paperqa-local ingest`

_STATIC = resources.files(__package__) / "static"
CSS = (_STATIC / "app.css").read_text(encoding="utf-8")
# Clicking a citation chip opens that paper in the sources panel, without a round trip to the server.
HEAD = f"\n<script>\n{(_STATIC / 'app.js').read_text(encoding='utf-8')}</script>\n"


def model_choices(settings) -> list[tuple[str, str]]:
    """The presets first, then any other GGUF in models/."""
    from ..models import BUNDLED, PRESETS, list_models

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

    shared = Shared(qa)
    with gr.Blocks(title="paperqa-local") as app:
        turns = gr.State([])
        last = gr.State({"retrieved": [], "cited": []})  # the last answer's papers, for the map
        pending = gr.State("")
        with gr.Row():
            gr.Markdown("## paperqa-local — questions answered from your papers, with citations")
            stats = gr.Markdown(elem_id="pq-stats")
        filters = settings_panel(shared, stats)
        with gr.Tabs():
            ask_tab(app, shared, filters, turns, last, pending)
            check_tab(shared, filters)
            added = library_tab(shared, filters, stats)
            map_tab(shared, last, added)
        app.load(shared.header, None, [stats], **PRIVATE)
        add_api(qa)
    return app


def settings_panel(shared: Shared, stats) -> Filters:
    import gradio as gr

    from ..models import resolve

    qa = shared.qa

    def pick_model(model: str):
        try:
            resolve(model, qa.settings.models_dir)
        except PaperQAError as exc:
            gr.Warning(esc(exc))
            return gr.update(value=qa.settings.model), shared.header()
        qa.use_model(model)
        gr.Info(esc(f"Model {model} is used from the next question on (it loads then)."))
        return gr.update(), shared.header()

    with gr.Accordion("Settings", open=False, elem_id="pq-settings"):
        with gr.Row():
            k = gr.Slider(1, 20, value=qa.settings.k, step=1, label="Papers per answer / search (k)", elem_id="pq-k")
            year_from = gr.Textbox(label="From year", placeholder="any, e.g. 2020", max_lines=1,
                                   elem_id="pq-year-from")
            year_to = gr.Textbox(label="To year", placeholder="any", max_lines=1, elem_id="pq-year-to")
            model = gr.Dropdown(model_choices(qa.settings), value=qa.settings.model, label="Model",
                                elem_id="pq-model")
    model.change(pick_model, [model], [model, stats], **PRIVATE)
    return Filters(k, year_from, year_to)


def check_tab(shared: Shared, filters: Filters) -> None:
    import gradio as gr

    def check_view(claim: str, k):
        if not claim.strip():
            raise gr.Error("Write a claim to check: the text is empty.")
        try:
            answer = shared.qa.check(claim, k=int(k))
        except PaperQAError as exc:
            raise gr.Error(str(exc)) from exc
        return verdict_html(answer, shared.abstracts_for(answer.contexts))

    with gr.Tab("Check a claim", id="check"):
        gr.Markdown("Does the literature support a claim? The verdict is SUPPORTS, CONTRADICTS or NOT ENOUGH "
                    "INFO, with the papers and sentences it rests on.")
        with gr.Row():
            claim = gr.Textbox(placeholder="e.g. Deoxys reduces average VM downtime by 53%", show_label=False,
                               scale=6, elem_id="pq-claim")
            check_button = gr.Button("Check", variant="primary", scale=1, elem_id="pq-check")
        verdict = gr.HTML(elem_id="pq-verdict", js_on_load=None)

    for trigger in (claim.submit, check_button.click):
        trigger(check_view, [claim, filters.k], [verdict], concurrency_limit=1, concurrency_id="llm",
                show_progress_on=[verdict], **PRIVATE)


def library_tab(shared: Shared, filters: Filters, stats):
    """Search and upload; returns the upload event, after which the map is drawn again."""
    import gradio as gr

    qa = shared.qa

    def library_search(query: str, k, year_from, year_to):
        if not query.strip():
            return '<p class="pq-empty">Type words to search the titles and abstracts.</p>'
        year_from, year_to = shared.years(year_from, year_to)
        hits = qa.search(query, k=int(k), year_from=year_from, year_to=year_to)
        return search_html(query, hits, shared.abstracts_for(hits))

    def add_files(files, progress=gr.Progress()):
        if not files:
            raise gr.Error("Choose one or more files first: seeds listings (.txt), JSON Lines (.jsonl, .json), CSV (.csv), "
                           "BibTeX (.bib) or RIS (.ris).")
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
        shared.corpus_map.invalidate()
        return ingest_html(report), None, shared.header()

    with gr.Tab("Library", id="library"):
        with gr.Row():
            query = gr.Textbox(placeholder="Search titles and abstracts (hybrid keyword + semantic)",
                               show_label=False, scale=6, elem_id="pq-search")
            search_button = gr.Button("Search", scale=1, elem_id="pq-search-button")
        results = gr.HTML(elem_id="pq-results", js_on_load=None)
        gr.Markdown("### Add papers\nSeeds listing pages (.txt), JSON Lines (.jsonl) or JSON (.json) or CSV (.csv) "
                    "with `title` and `abstract` (optional `authors`, `year`, `url`, `doi`, `id`), or a reference "
                    "manager's export: BibTeX (.bib), RIS (.ris).")
        files = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, label="Files", elem_id="pq-upload")
        add_button = gr.Button("Add to library", variant="primary", elem_id="pq-add")
        report = gr.HTML(elem_id="pq-report", js_on_load=None)

    inputs = [query, filters.k, filters.year_from, filters.year_to]
    query.submit(library_search, inputs, [results], concurrency_limit=2, **PRIVATE)
    search_button.click(library_search, inputs, [results], concurrency_limit=2, **PRIVATE)
    return add_button.click(add_files, [files], [report, files, stats], concurrency_id="ingest",
                            show_progress_on=[files], **PRIVATE)


def map_tab(shared: Shared, last, added) -> None:
    """Drawn when an answer changes `last`, when the tab is opened, and after an upload (`added`)."""
    import gradio as gr

    def draw_map(last: dict):
        return shared.corpus_map.frame(last.get("retrieved", []), last.get("cited", [])), years_frame(shared.qa)

    with gr.Tab("Map", id="map") as tab:
        gr.Markdown("Each point is a paper, placed by a 2-D projection (PCA) of its embedding: nearby papers "
                    "are about similar things. The last answer's cited and retrieved papers are highlighted.")
        corpus = gr.ScatterPlot(x="x", y="y", color="paper", tooltip=["title", "year", "paper"],
                                color_map={"cited": "#d62728", "retrieved": "#ff7f0e", "other": "#b8c2cc"},
                                x_title="PC 1", y_title="PC 2", height=480, elem_id="pq-map",
                                show_label=False)
        per_year = gr.BarPlot(x="year", y="papers", title="Papers per year", height=260, elem_id="pq-years",
                              show_label=False)

    last.change(draw_map, [last], [corpus, per_year], **PRIVATE)
    tab.select(draw_map, [last], [corpus, per_year], **PRIVATE)
    added.then(draw_map, [last], [corpus, per_year], **PRIVATE)

"""The Gradio Blocks app: a title row (with the light/dark toggle), the settings panel (with the library this
browser session uses: `shared.py`), the conversations sidebar, then one builder per tab (Ask in `ask.py`, Library
in `library.py`; Check a claim and Map here), and the API (`api.py`, over the library the server was started with).
Each builder lays out its tab and wires its own events; each event reads its session's library (`shared.of`).

Asking and checking queue on the LLM (concurrency id "llm": one at a time in-process, one per LLM server with
`llm_base_url`, `qa.answer_slots()`; the position shown) while search, upload and the map stay responsive.
"""

# No `from __future__ import annotations` here: Gradio reads the `gr.Request` annotations at run time.
from importlib import resources

from ..errors import PaperQAError
from .api import add_api
from .ask import ask_tab
from .corpus_map import years_frame
from .library import UPLOAD_LIMIT_MB, UPLOAD_TYPES, library_tab
from .render import esc, paper_card, verdict_html
from .shared import PRIVATE, Filters, Shared
from .sidebar import Sidebar

__all__ = ["CSS", "HEAD", "UPLOAD_LIMIT_MB", "UPLOAD_TYPES", "build_app"]

_STATIC = resources.files(__package__) / "static"
CSS = (_STATIC / "app.css").read_text(encoding="utf-8")
# Chips, copy links, hover previews, the theme toggle and map clicks, without a round trip to the server.
HEAD = f"\n<script>\n{(_STATIC / 'app.js').read_text(encoding='utf-8')}</script>\n"
THEME_TOGGLE = "() => { window.pqToggleTheme && window.pqToggleTheme(); }"


def build_app(qa):
    """The Gradio Blocks app over `qa`; `launch` queues and serves it."""
    import gradio as gr

    shared = Shared(qa)
    with gr.Blocks(title="paperqa-local") as app:
        last = gr.State({"retrieved": [], "cited": [], "citations": []})  # the last answer's papers
        pending = gr.State("")
        with gr.Row(elem_id="pq-header"):
            gr.Markdown("## paperqa-local\nQuestions answered from your papers, with citations.",
                        elem_id="pq-title")
            with gr.Column(scale=0, min_width=160):
                stats = gr.Markdown(elem_id="pq-stats")
                theme = gr.Button("Light / dark", size="sm", elem_id="pq-theme")
        theme.click(None, None, None, js=THEME_TOGGLE, **PRIVATE)
        filters, library, switched = settings_panel(shared, stats)
        side = Sidebar(qa, gr.State(None))
        with gr.Tabs():
            ask_tab(app, shared, filters, last, pending, side)
            check_tab(shared, filters)
            added, removed = library_tab(shared, filters.k, last, stats, switched)
            map_tab(shared, last, (added, removed, switched))

        def opened(request: gr.Request):
            return shared.of(request).header(), libraries(shared, request)

        def relisted(request: gr.Request):  # the picker's paper counts, after an upload or a removal
            return libraries(shared, request)

        def closed(request: gr.Request):
            shared.forget(request)

        app.load(opened, None, [stats, library], **PRIVATE)
        for event in (added, removed):
            event.then(relisted, None, [library], **PRIVATE)
        app.unload(closed)
        add_api(qa)
    return app


def libraries(shared: Shared, request):
    """The library picker as this session sees it: every library of the data directory, its own selected."""
    import gradio as gr

    return gr.update(choices=shared.choices(), value=shared.of(request).name)


def settings_panel(shared: Shared, stats):
    """The settings, the library picker and the event of a switch of library (the tabs redraw after it)."""
    import gradio as gr

    qa = shared.qa

    def pick_model(model: str, request: gr.Request):
        try:
            shared.use_model(model)
        except PaperQAError as exc:
            gr.Warning(esc(exc))
            return gr.update(value=qa.settings.model), shared.of(request).header()
        gr.Info(esc(f"Model {model} is used from the next question on (it loads then)."))
        return gr.update(), shared.of(request).header()

    def pick_library(name: str, request: gr.Request):
        name = (name or "").strip()
        known = {value for _, value in shared.choices()}
        try:
            library = shared.choose(request, name)
        except PaperQAError as exc:
            gr.Warning(esc(exc))
            return libraries(shared, request), shared.of(request).header()
        if name not in known:
            gr.Info(esc(f"New empty library {name}: add papers to it in the Library tab."))
        return libraries(shared, request), library.header()

    with gr.Accordion("Settings", open=False, elem_id="pq-settings"):
        with gr.Row():
            k = gr.Slider(1, 20, value=qa.settings.k, step=1, label="Papers per answer / search (k)", min_width=220,
                          elem_id="pq-k")
            model = gr.Dropdown(qa.models(), value=qa.settings.model, label="Model",
                                min_width=220, elem_id="pq-model")
            library = gr.Dropdown(shared.choices(), value=qa.settings.collection, allow_custom_value=True,
                                  label="Library (for this browser tab; type a new name to start one)", min_width=220,
                                  elem_id="pq-library")
        with gr.Row():
            year_from = gr.Textbox(label="From year", placeholder="any, e.g. 2020", max_lines=1, min_width=140,
                                   elem_id="pq-year-from")
            year_to = gr.Textbox(label="To year", placeholder="any", max_lines=1, min_width=140, elem_id="pq-year-to")
            include_undated = gr.Checkbox(False, label="Include papers without a year", min_width=140,
                                          elem_id="pq-include-undated")
    model.change(pick_model, [model], [model, stats], **PRIVATE)
    switched = library.input(pick_library, [library], [library, stats], **PRIVATE)
    return Filters(k, year_from, year_to, include_undated), library, switched


def check_tab(shared: Shared, filters: Filters) -> None:
    import gradio as gr

    def check_view(claim: str, k, request: gr.Request):
        if not claim.strip():
            raise gr.Error("Write a claim to check: the text is empty.")
        library = shared.of(request)
        try:
            answer = library.qa.check(claim, k=int(k))
        except PaperQAError as exc:
            raise gr.Error(esc(exc)) from exc
        return verdict_html(answer, library.abstracts_for(answer.contexts))

    with gr.Tab("Check a claim", id="check"):
        gr.Markdown("Does the literature support a claim? The verdict is SUPPORTS, CONTRADICTS or NOT ENOUGH "
                    "INFO, with the papers and sentences it rests on.")
        with gr.Row():
            claim = gr.Textbox(placeholder="e.g. Deoxys reduces VM downtime by 53%", show_label=False,
                               scale=6, min_width=200, elem_id="pq-claim")
            check_button = gr.Button("Check", variant="primary", scale=1, min_width=80, elem_id="pq-check")
        verdict = gr.HTML(elem_id="pq-verdict", js_on_load=None)

    for trigger in (claim.submit, check_button.click):
        trigger(check_view, [claim, filters.k], [verdict], concurrency_limit=shared.qa.answer_slots(), concurrency_id="llm",
                show_progress_on=[verdict], **PRIVATE)


def map_tab(shared: Shared, last, changed) -> None:
    """Drawn when an answer changes `last`, when the tab is opened, and after an upload, a removal or a switch of
    library; a click on a point opens that paper below the map."""
    import gradio as gr

    def draw_map(last: dict, request: gr.Request):
        library = shared.of(request)
        return library.corpus_map.frame(last.get("retrieved", []), last.get("cited", [])), years_frame(library.qa)

    def open_paper(title: str, request: gr.Request):
        library = shared.of(request)
        hits = library.corpus_map.hits_titled(title.strip()) if title.strip() else []
        if not hits:
            return '<p class="pq-empty">Click a point to open its paper here.</p>'
        texts = library.abstracts_for(hits)
        return "".join(paper_card(f"pq-map-paper-{n}", "", hit, texts.get(hit.paper_id, hit.text), opened=True)
                       for n, hit in enumerate(hits, 1))

    with gr.Tab("Map", id="map") as tab:
        gr.Markdown("Each point is a paper, placed by a 2-D projection (PCA) of its embedding: nearby papers "
                    "are about similar things. The last answer's cited and retrieved papers are highlighted; "
                    "click a point to open its paper below.")
        corpus = gr.ScatterPlot(x="x", y="y", color="paper", tooltip=["title", "year", "paper"],
                                color_map={"cited": "#d62728", "retrieved": "#ff7f0e", "other": "#b8c2cc"},
                                x_title="PC 1", y_title="PC 2", height=480, elem_id="pq-map",
                                show_label=False)
        picked = gr.Textbox(elem_id="pq-map-pick", elem_classes=["pq-hidden"], show_label=False)  # app.js fills it
        paper = gr.HTML('<p class="pq-empty">Click a point to open its paper here.</p>', elem_id="pq-map-paper",
                        js_on_load=None)
        per_year = gr.BarPlot(x="year", y="papers", title="Papers per year", height=260, elem_id="pq-years",
                              show_label=False)

    last.change(draw_map, [last], [corpus, per_year], **PRIVATE)
    picked.change(open_paper, [picked], [paper], **PRIVATE)
    tab.select(draw_map, [last], [corpus, per_year], **PRIVATE)
    for event in changed:
        event.then(draw_map, [last], [corpus, per_year], **PRIVATE)

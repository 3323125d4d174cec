"""The Ask tab: the question shows at once, the answer streams when the one LLM is free, and the sources panel
shows the papers behind each answer (a citation chip opens its paper there)."""

# No `from __future__ import annotations` here: Gradio reads the `gr.Request` annotations at run time.
import tempfile
import threading
from pathlib import Path

from ..errors import PaperQAError
from .render import (EMPTY_SOURCES, WAITING_HTML, answer_html, esc, markup, sources_html, status_text, stopped_html,
                     streaming_html)
from .shared import PRIVATE, Filters, Shared


class Session:
    """What one browser tab shares between its events: Stop and Clear reach a running answer through it."""

    def __init__(self):
        self.stop = threading.Event()
        self.chat_id = 0  # Clear starts a new chat; an answer still finishing for the old one is dropped


def ask_tab(app, shared: Shared, filters: Filters, turns, last, pending) -> None:
    """Ask: `start` shows the question at once; `respond` waits its turn for the LLM and streams the answer."""
    import gradio as gr

    qa = shared.qa
    sessions: dict[str, Session] = {}
    exports = Path(tempfile.mkdtemp(prefix="paperqa-answers-"))

    def session(request: gr.Request | None) -> Session:
        return sessions.setdefault(getattr(request, "session_hash", None) or "-", Session())

    def start(question: str, chat: list, year_from, year_to, request: gr.Request):
        """Show the question at once and lock the box; an empty question or a bad filter asks nothing."""
        if not question.strip():
            return gr.skip(), gr.skip(), gr.skip(), ""
        try:
            shared.years(year_from, year_to)
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
        year_from, year_to = shared.years(year_from, year_to)
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
        panel = sources_html(answer, turn, shared.abstracts_for(answer.contexts))
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

    k, year_from, year_to = filters
    answer_outputs = [chat, sources, answer_md, export, status, turns, last]
    for trigger in (question.submit, ask_button.click):
        (trigger(start, [question, chat, year_from, year_to], [question, ask_button, chat, pending], queue=False,
                 **PRIVATE)
         .then(respond, [pending, chat, turns, k, year_from, year_to], answer_outputs, concurrency_limit=1,
               concurrency_id="llm", show_progress_on=[chat], **PRIVATE)
         .then(unlock, None, [question, ask_button], queue=False, **PRIVATE))
    stop_button.click(stop, None, None, queue=False, **PRIVATE)
    for trigger in (clear_button.click, chat.clear):
        trigger(clear, None, [*answer_outputs, question, ask_button], queue=False, **PRIVATE)
    app.unload(forget)

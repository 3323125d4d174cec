"""The Ask tab: the question shows at once, the retrieved papers as soon as retrieval is done, the answer streams
when the one LLM is free, and each finished answer is saved in its conversation (`conversations.py`), which the
sidebar (`sidebar.py`) lists, reopens, renames, deletes and exports."""

# No `from __future__ import annotations` here: Gradio reads the `gr.Request` annotations at run time.
import tempfile
from pathlib import Path

from ..errors import PaperQAError
from .chatview import (EXAMPLES, chat_messages, example_questions, export_file, listing_choices, sources_panel,
                       turn_html, turn_panels)
from .conversations import history, last_papers, new_conversation, title_for, turn_record
from .render import WAITING_HTML, esc, markup, sources_html, status_text, streaming_html
from .shared import PRIVATE, Filters, Shared, user_of
from .sidebar import Sidebar

_NO_EXAMPLES = "Ask about the indexed papers. Follow-up questions work too."


def ask_tab(app, shared: Shared, filters: Filters, last, pending, side: Sidebar) -> None:
    """Ask: `start` shows the question at once; `respond` waits its turn for the LLM and streams the answer."""
    import gradio as gr

    qa = shared.qa  # for what the page is built with; each event answers from its session's library
    sessions, store, conversation = side.sessions, side.store, side.conversation
    exports = Path(tempfile.mkdtemp(prefix="paperqa-conversations-"))

    def start(question: str, chat: list, year_from, year_to, request: gr.Request):
        """Show the question at once and lock the box; an empty question or a bad filter asks nothing."""
        if not question.strip():
            gr.Warning("Type a question first: the question box is empty.")
            return gr.skip(), gr.skip(), gr.skip(), ""
        try:
            shared.years(year_from, year_to)
        except gr.Error as exc:
            gr.Warning(exc.message)
            return gr.skip(), gr.skip(), gr.skip(), ""
        sessions.of(request).stop.clear()
        chat = chat + [{"role": "user", "content": markup(question)},
                       {"role": "assistant", "content": WAITING_HTML}]
        return gr.update(value="", interactive=False), gr.update(interactive=False), chat, question

    def respond(question: str, chat: list, conversation: dict, k, year_from, year_to, include_undated,
                request: gr.Request):
        skip = (gr.skip(),) * 7
        if not question.strip():
            yield (gr.skip(), *skip)
            return
        me = sessions.of(request)
        stop, chat_id = me.stop, me.chat_id
        conversation = conversation or new_conversation()
        number = len(conversation["turns"]) + 1
        year_from, year_to = shared.years(year_from, year_to)
        if stop.is_set():
            chat[-1]["content"] = markup("Stopped before the answer began.")
            yield (chat, *skip)
            return
        earlier = history(conversation)
        library = shared.of(request)  # the library chosen when the question was asked, even if switched meanwhile
        panels = turn_panels(conversation, library.abstracts_for)
        written, answer = "", None
        try:
            hits = library.qa.answer_hits(question, int(k), year_from, year_to, earlier,
                                          include_undated=bool(include_undated))
            from ..types import Answer

            found = Answer(question=" ".join(question.split()), text="", answerable=False, contexts=hits)
            yield (chat, sources_panel(panels, sources_html(found, number, library.abstracts_for(hits), pending=True)),
                   *skip[1:])
            for event in library.qa.stream(question, k=int(k), year_from=year_from, year_to=year_to, history=earlier,
                                   stop=stop, include_undated=bool(include_undated), hits=hits):
                if me.chat_id != chat_id:  # another conversation was opened: stop, and show nothing more
                    stop.set()
                elif isinstance(event, str):
                    written += event
                    chat[-1]["content"] = streaming_html(written)
                    yield (chat, *skip)
                else:
                    answer = event
        except PaperQAError as exc:
            chat[-1]["content"] = markup(f"Error: {exc}")
            yield (chat, *skip)
            raise gr.Error(esc(exc)) from exc
        if me.chat_id != chat_id or answer is None:
            # the browser shows a running event's last output when it ends, whatever came in between
            yield (gr.skip(), *skip)
            return
        stopped = stop.is_set()
        turn = turn_record(answer, stopped, written)
        conversation = {**conversation, "turns": [*conversation["turns"], turn],
                        "title": conversation.get("title") or title_for(answer.question)}
        store.save(user_of(request), conversation)
        chat[-1]["content"] = turn_html(turn, number)
        panels = turn_panels(conversation, library.abstracts_for)
        status = "\n\n".join(filter(None, [status_text(answer, stopped),
                                             library.undated_note(year_from, year_to, bool(include_undated))]))
        yield (chat, sources_panel(panels), status, conversation, last_papers(conversation),
               *listed(request, conversation))

    def listed(request, conversation: dict) -> tuple:
        """The sidebar's list (this conversation selected), its title box and its export."""
        choices = listing_choices(store.listing(user_of(request)))
        selected = conversation["id"] if any(value == conversation["id"] for _, value in choices) else None
        path = export_file(conversation, exports)
        return (gr.update(choices=choices, value=selected), gr.update(value=conversation.get("title", "")),
                gr.update(value=path, interactive=path is not None))

    def shown(conversation: dict, request) -> tuple:
        """Everything the page shows of `conversation`, in `view_outputs`' order."""
        library = shared.of(request)
        examples = example_questions(library.qa.papers()) if not conversation["turns"] else []
        chat = gr.update(value=chat_messages(conversation),
                         examples=[{"text": q} for q in examples] or None)
        return (chat, sources_panel(turn_panels(conversation, library.abstracts_for)), "", conversation,
                last_papers(conversation), *listed(request, conversation))

    def stop_answer(request: gr.Request):
        sessions.of(request).stop.set()

    def unlock():
        return gr.update(interactive=True), gr.update(interactive=True)

    def ask_example(selected: gr.SelectData):
        return selected.value["text"] if isinstance(selected.value, dict) else str(selected.value)

    def forget(request: gr.Request):
        sessions.pop(getattr(request, "session_hash", None), None)

    with gr.Tab("Ask", id="ask"):
        with gr.Row():
            with gr.Column(scale=3, min_width=300):
                chat = gr.Chatbot(elem_id="pq-chat", height=460, buttons=[], latex_delimiters=[],
                                  feedback_options=None, show_label=False, placeholder=_NO_EXAMPLES,
                                  examples=[{"text": q} for q in example_questions(qa.papers())[:EXAMPLES]] or None)
                with gr.Row():
                    question = gr.Textbox(placeholder="Ask about your papers", show_label=False, scale=6,
                                          min_width=200, elem_id="pq-question", submit_btn=False)
                    ask_button = gr.Button("Ask", variant="primary", scale=1, min_width=60, elem_id="pq-ask")
                with gr.Row():
                    stop_button = gr.Button("Stop", size="sm", elem_id="pq-stop")
                status = gr.Markdown(elem_id="pq-status")
            with gr.Column(scale=2, min_width=300):
                gr.Markdown("### Sources")
                sources = gr.HTML(sources_panel([]), elem_id="pq-sources", js_on_load=None, max_height=640)

    k, year_from, year_to, include_undated = filters
    answer_outputs = [chat, sources, status, conversation, last, side.listing, side.title, side.export]
    side.wire(app, shown, answer_outputs)
    for trigger in (question.submit, ask_button.click):
        (trigger(start, [question, chat, year_from, year_to], [question, ask_button, chat, pending],
                 concurrency_limit=None,
                 **PRIVATE)
         .then(respond, [pending, chat, conversation, k, year_from, year_to, include_undated], answer_outputs, concurrency_limit=qa.answer_slots(),
               concurrency_id="llm", show_progress_on=[chat], **PRIVATE)
         .then(unlock, None, [question, ask_button], queue=False, **PRIVATE))
    (chat.example_select(ask_example, None, [question], queue=False, **PRIVATE)
     .then(start, [question, chat, year_from, year_to], [question, ask_button, chat, pending],
                 concurrency_limit=None, **PRIVATE)
     .then(respond, [pending, chat, conversation, k, year_from, year_to, include_undated], answer_outputs, concurrency_limit=qa.answer_slots(),
           concurrency_id="llm", show_progress_on=[chat], **PRIVATE)
     .then(unlock, None, [question, ask_button], queue=False, **PRIVATE))
    stop_button.click(stop_answer, None, None, queue=False, **PRIVATE)
    chat.clear(side.start_new, None, answer_outputs, **PRIVATE)
    app.unload(forget)

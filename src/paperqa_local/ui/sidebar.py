"""The conversations sidebar: New, the user's saved conversations (the most recent first; one click reopens it),
rename, delete (after a confirmation) and export as Markdown. A page load reopens the most recent one."""

# No `from __future__ import annotations` here: Gradio reads the `gr.Request` annotations at run time.
import threading

from .conversations import Conversations, new_conversation
from .shared import PRIVATE, user_of


class Session:
    """What one browser tab shares between its events: Stop and New reach a running answer through it."""

    def __init__(self):
        self.stop = threading.Event()
        self.chat_id = 0  # opening another conversation drops an answer still finishing for this one


class Sessions(dict):
    def of(self, request) -> Session:
        return self.setdefault(getattr(request, "session_hash", None) or "-", Session())

    def switch(self, request) -> None:
        """Another conversation opens: stop the running answer and show nothing more of it."""
        me = self.of(request)
        me.stop.set()
        me.chat_id += 1


class Sidebar:
    """Built before the tabs (a Gradio sidebar belongs to the page); `wire` connects it once the Ask tab exists."""

    def __init__(self, qa, conversation):
        import gradio as gr

        self.store = Conversations(qa.settings.home)
        self.sessions = Sessions()
        self.conversation = conversation
        with gr.Sidebar(open=True, elem_id="pq-sidebar", width=280):
            gr.Markdown("### Conversations")
            self.new = gr.Button("New conversation", size="sm", variant="primary", elem_id="pq-new")
            self.listing = gr.Radio([], show_label=False, elem_id="pq-conversations")
            self.title = gr.Textbox(label="Title", max_lines=1, elem_id="pq-title-box")
            with gr.Row():
                self.rename = gr.Button("Rename", size="sm", elem_id="pq-rename")
                self.delete = gr.Button("Delete…", size="sm", variant="stop", elem_id="pq-delete")
            with gr.Row(visible=False, elem_id="pq-confirm-delete") as self.confirm:
                self.confirm_text = gr.Markdown()
                self.yes = gr.Button("Yes, delete", size="sm", variant="stop", elem_id="pq-delete-yes")
                self.no = gr.Button("Cancel", size="sm", elem_id="pq-delete-no")
            self.export = gr.DownloadButton("Export conversation (.md)", size="sm", interactive=False,
                                            elem_id="pq-export")

    def wire(self, app, shown, outputs) -> None:
        """`shown(conversation, request)` gives what the page shows of a conversation, in `outputs`' order."""
        import gradio as gr

        store, sessions = self.store, self.sessions

        def open_latest(request: gr.Request):
            listing = store.listing(user_of(request))
            found = store.load(user_of(request), listing[0]["id"]) if listing else None
            return shown(found or new_conversation(), request)

        def open_one(conversation_id: str, request: gr.Request):
            found = store.load(user_of(request), conversation_id or "")
            if found is None:
                gr.Warning("That conversation is gone (deleted in another tab?): showing the most recent one.")
                return open_latest(request)
            sessions.switch(request)
            return shown(found, request)

        def start_new(request: gr.Request):
            sessions.switch(request)
            return shown(new_conversation(), request)

        def rename(title: str, conversation: dict | None, request: gr.Request):
            if not title.strip():
                gr.Warning("Write a title first: the title box is empty.")
                return shown(conversation or new_conversation(), request)
            conversation = {**(conversation or new_conversation()), "title": " ".join(title.split())[:120]}
            store.save(user_of(request), conversation)
            return shown(conversation, request)

        def ask_delete(conversation: dict | None):
            if not conversation or not conversation["turns"] and not conversation.get("title"):
                gr.Warning("This conversation is not saved yet: there is nothing to delete.")
                return gr.update(visible=False), gr.skip()
            return gr.update(visible=True), f"Delete “{conversation.get('title') or 'Untitled'}” for good?"

        def delete(conversation: dict | None, request: gr.Request):
            if conversation:
                store.delete(user_of(request), conversation["id"])
                sessions.switch(request)
            return (gr.update(visible=False), *open_latest(request))

        self.start_new = start_new  # the chatbot's own clear button starts a new conversation too
        app.load(open_latest, None, outputs, **PRIVATE)
        self.listing.input(open_one, [self.listing], outputs, **PRIVATE)
        self.new.click(start_new, None, outputs, **PRIVATE)
        for trigger in (self.rename.click, self.title.submit):
            trigger(rename, [self.title, self.conversation], outputs, **PRIVATE)
        self.delete.click(ask_delete, [self.conversation], [self.confirm, self.confirm_text], **PRIVATE)
        self.no.click(lambda: gr.update(visible=False), None, [self.confirm], **PRIVATE)
        self.yes.click(delete, [self.conversation], [self.confirm, *outputs], **PRIVATE)

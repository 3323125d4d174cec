"""The browser UI: Gradio Blocks over the `PaperQA` facade, with no answering logic of its own.

Tabs: Ask (streamed answers whose citation chips open the paper in the sources panel, in conversations that
are saved and listed in the sidebar), Check a claim, Library (search, every paper, remove, reference export,
upload) and Map (the corpus projected to 2-D, the last answer's papers highlighted).

  app.py            the Blocks: the header, the settings, Check a claim and Map; the other tabs' builders below
  ask.py            the Ask tab: question → retrieved sources → streamed answer → saved turn
  sidebar.py        the conversations sidebar: new, reopen, rename, delete, export
  conversations.py  conversations as JSON files per user (atomic writes), their Markdown export
  chatview.py       a conversation → chat messages, sources panels, export file, example questions
  library.py        the Library tab
  api.py            /ask, /check, /search for programs
  render.py         results → escaped HTML (answers, chips, sources, search results, upload reports)
  corpus_map.py     the Map tab's projection
  serving.py        where it may listen, logins, `launch` and `serve`
  static/           the page's CSS and JavaScript (chips, copy, previews, theme, map clicks)

Safety rules kept here:
- every string that comes from a paper, a file or the model is escaped before it reaches HTML or Markdown,
  so an abstract holding `<script>` or `<img onerror>` shows as text (`render.py`);
- it binds to 127.0.0.1; another host needs a password (`check_serving`), and it never makes a share link;
- asking queues on the LLM (one at a time in-process, one per server with `llm_base_url`; the position shown)
  while search, upload and the map stay responsive;
- it speaks only to the `PaperQA` facade, never to the store or the model files behind it.
"""

from .app import build_app
from .corpus_map import project
from .render import answer_html, highlight, markup, sources_html, stopped_html, verdict_html
from .serving import check_serving, is_loopback, launch, read_credentials, serve

__all__ = ["answer_html", "build_app", "check_serving", "highlight", "is_loopback", "launch", "markup", "project",
           "read_credentials", "serve", "sources_html", "stopped_html", "verdict_html"]

"""The browser UI: Gradio Blocks over the `PaperQA` facade, with no answering logic of its own.

Three tabs: Ask (streamed answers whose citation chips open the paper in the sources panel), Library (paper
count, search, upload) and Map (the corpus projected to 2-D, the last answer's papers highlighted).

  app.py         the Blocks: one builder per tab, wired to the facade
  api.py         /ask, /check, /search for programs
  render.py      results → escaped HTML (answers, chips, sources, search results, upload reports)
  corpus_map.py  the Map tab's projection
  serving.py     where it may listen, logins, `launch` and `serve`
  static/        the page's CSS and JavaScript

Safety rules kept here:
- every string that comes from a paper, a file or the model is escaped before it reaches HTML or Markdown,
  so an abstract holding `<script>` or `<img onerror>` shows as text (`render.py`);
- it binds to 127.0.0.1; another host needs a password (`check_serving`), and it never makes a share link;
- there is one LLM, so asking queues (concurrency 1, the position shown) while search, upload and the map
  stay responsive.
"""

from .app import build_app
from .corpus_map import project
from .render import answer_html, highlight, markup, sources_html, stopped_html, verdict_html
from .serving import check_serving, is_loopback, launch, read_credentials, serve

__all__ = ["answer_html", "build_app", "check_serving", "highlight", "is_loopback", "launch", "markup", "project",
           "read_credentials", "serve", "sources_html", "stopped_html", "verdict_html"]

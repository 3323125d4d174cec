"""Where and how the app is served: loopback by default, a password anywhere else, never a share link; and
`serve`, what `python app.py` and `paperqa-local serve` run."""

import ipaddress
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from ..config import PROJECT_ROOT, Settings
from ..errors import ConfigError, PaperQAError
from .app import CSS, HEAD, UPLOAD_LIMIT_MB, build_app

log = logging.getLogger(__name__)

DEFAULT_SEEDS = PROJECT_ROOT / "seeds"


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
    from ..qa import PaperQA

    qa = PaperQA(data_dir=data_dir, model=model, **overrides)
    # the seeds fill the default library only: a library named on the command line starts as its owner left it
    fill = seeds and Path(seeds).is_dir() and qa.settings.collection == Settings.model_fields["collection"].default
    stats = qa.stats() if fill else None
    if stats is not None and stats["chunks"] == 0:
        print(f"The index at {stats['store']} is empty: indexing the seeds in {seeds} first (a minute or two)…",
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

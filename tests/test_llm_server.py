"""LLM servers and a shared Chroma server: the OpenAI-compatible backend (`llm_http.py`) against a small fake
server (fast), then a real `python -m llama_cpp.server` with the bundled 0.5B and a real `chroma run`, shared by
app instances in separate processes (slow)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from paperqa_local.errors import ModelError
from paperqa_local.llm import Generation
from paperqa_local.llm_http import HttpLLM, ServerError, sse_pieces, top_logprobs

from .conftest import DEOXYS, ROOT, SEEDS

FAST_GGUF = ROOT / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- the protocol, against a fake server ----------------------------------------------------------------------

class WordsLLM(HttpLLM):
    """The real HTTP backend with a vocabulary of whole words instead of a GGUF's (no model file needed)."""

    def render(self, messages, prefix=""):
        return "".join(f"<{m['role']}>{m['content']}\n" for m in messages) + "<assistant>" + prefix

    def count_tokens(self, text):
        return len(text.split())

    def _first_pieces(self, spellings):
        return {spelling.split()[0] for spelling in spellings if spelling.split()}


class FakeServer:
    """An OpenAI-compatible completions server in a thread: `script(body)` gives (status, headers, body chunks)."""

    def __init__(self, script):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer({"path": self.path})

            def do_POST(self):
                self._answer({"path": self.path, **json.loads(self.rfile.read(int(self.headers["Content-Length"])))})

            def _answer(self, body):
                body["auth"] = self.headers.get("Authorization")
                outer.requests.append(body)
                status, chunks = script(body)
                self.send_response(status)
                self.end_headers()
                for chunk in chunks:
                    if isinstance(chunk, float):
                        time.sleep(chunk)
                        continue
                    self.wfile.write(chunk.encode())
                    self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def completions(top: dict[str, float], words: list[str]):
    """A llama_cpp.server-like script: its model list, top log-probabilities, and a reply streamed word by word."""
    def script(body):
        if body["path"] == "/v1/models":
            return 200, [json.dumps({"object": "list", "data": [{"id": "/models/x/words.gguf"}]})]
        if not body.get("stream"):
            choice = {"text": max(top, key=top.get), "logprobs": {"top_logprobs": [top]}, "finish_reason": "length"}
            return 200, [json.dumps({"choices": [choice]})]
        events = [w if isinstance(w, float) else f"data: {json.dumps({'choices': [{'text': w, 'finish_reason': None}]})}\r\n\r\n"
                  for w in words]  # a float: a pause of that many seconds
        return 200, [": ping\r\n\r\n", *events, 'data: {"choices": [{"text": "", "finish_reason": "stop"}]}\n\n',
                     "data: [DONE]\n\n"]
    return script


@pytest.fixture
def fake():
    servers = []

    def start(script):
        servers.append(FakeServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_event_stream_and_both_logprob_formats_are_read():
    lines = [b": ping", b"", b'data: {"choices": [{"text": "Deo", "finish_reason": null}]}', b"event: x",
             b'data: {"choices": [{"text": "xys", "finish_reason": "stop"}]}', b"data: [DONE]", b"data: never"]
    assert list(sse_pieces(lines, "u")) == [("Deo", None), ("xys", "stop")]
    assert top_logprobs({"logprobs": {"top_logprobs": [{"Yes": -0.1, " No": -2.5}]}}) == {"Yes": -0.1, " No": -2.5}
    llama_server = {"logprobs": {"content": [{"token": "Yes", "top_logprobs": [{"token": "Yes", "logprob": -0.1},
                                                                                {"token": "No", "logprob": -3.0}]}]}}
    assert top_logprobs(llama_server) == {"Yes": -0.1, "No": -3.0}
    assert top_logprobs({"text": "Yes", "logprobs": None}) is None
    with pytest.raises(ServerError, match="not an OpenAI-compatible reply"):
        list(sse_pieces([b"data: <html>"], "http://x"))


def test_streams_scores_and_forbids_the_first_token_like_the_in_process_model(fake):
    server = fake(completions({"Cannot": -0.2, "HeadTrim": -1.9, "It": -2.6}, [" prunes", " heads", " [1]."]))
    llm = WordsLLM([server.url], Path("words.gguf"), api_key="sekrit")
    assert llm.lock.__enter__() is None and llm.lock.__enter__() is None  # never blocks, even twice in one thread
    scores = llm.score_options([{"role": "user", "content": "q"}], [["Cannot"], ["HeadTrim", "It"], ["Zebra"]])
    assert scores[0] == pytest.approx(-0.2)
    assert scores[1] == pytest.approx(math.log(math.exp(-1.9) + math.exp(-2.6)))
    assert scores[2] == pytest.approx(-2.6)  # outside the top list: at most as probable as its last entry

    generation = Generation()
    pieces = list(llm.stream_chat([{"role": "user", "content": "q"}], generation, max_tokens=50, forbid_first=["Cannot"]))
    assert pieces == ["HeadTrim", " prunes", " heads", " [1]."] and generation.text == "HeadTrim prunes heads [1]."
    assert generation.finish_reason == "stop" and generation.completion_tokens == 4
    streamed = [r for r in server.requests if r.get("stream")]
    assert len(streamed) == 1 and streamed[0]["prompt"].endswith("<assistant>HeadTrim") and streamed[0]["max_tokens"] == 49
    assert streamed[0]["temperature"] == 0 and streamed[0]["repeat_penalty"] == 1.0  # llama_cpp.server's default is 1.1
    assert {r["auth"] for r in server.requests} == {"Bearer sekrit"}


def test_a_server_without_logprobs_leaves_the_text_path(fake):
    def script(body):
        if body["path"] == "/v1/models":
            return 200, ['{"data": []}']
        if not body.get("stream"):
            return 200, ['{"choices": [{"text": "Cannot", "logprobs": null}]}']
        return 200, ['data: {"choices": [{"text": "Cannot answer.", "finish_reason": "stop"}]}\n\n', "data: [DONE]\n\n"]

    llm = WordsLLM([fake(script).url], Path("words.gguf"))
    assert hasattr(llm, "score_options")
    assert llm.chat([{"role": "user", "content": "q"}], forbid_first=["Cannot"]).text == "Cannot answer."
    assert not hasattr(llm, "score_options")  # answering and checking now read the reply's text
    assert not hasattr(WordsLLM([fake(script).url], Path("w.gguf"), logprobs=False), "score_options")


def test_requests_spread_over_servers_by_how_busy_they_are(fake):
    slow = completions({"A": -0.1}, ["a", 0.4, "b"])
    first, second = fake(slow), fake(slow)
    llm = WordsLLM([first.url, second.url], Path("words.gguf"))
    texts = []
    threads = [threading.Thread(target=lambda n=n: texts.append(llm.chat([{"role": "user", "content": str(n)}]).text))
               for n in range(4)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for r in first.requests if r.get("stream")) == 2 and sum(1 for r in second.requests if r.get("stream")) == 2
    assert texts == ["ab"] * 4 and time.perf_counter() - started < 1.5  # four 0.4 s replies at once, not in turn


@pytest.mark.parametrize("script, message", [
    (lambda body: (200, [0.8, "{}"]), r"did not answer /v1/models within 0.3 s .*llm_timeout \(PAPERQA_LOCAL_LLM_TIMEOUT\)"),
    (lambda body: (200, ["<html>hello</html>"]), r"answered /v1/models with what is not an OpenAI-compatible reply"),
    (lambda body: (401, ['{"detail": "Invalid API Key"}']), r"HTTP 401 .*llm_api_key \(PAPERQA_LOCAL_LLM_API_KEY\)"),
    (lambda body: (200, ['{"data": [{"id": "/models/other.gguf"}]}']),
     r"serves other\.gguf, not words\.gguf .*PAPERQA_LOCAL_MODEL"),
])
def test_a_server_that_answers_wrong_names_itself_and_the_setting(fake, script, message):
    server = fake(script)
    llm = WordsLLM([server.url], Path("words.gguf"), timeout=0.3)
    with pytest.raises(ModelError, match=message) as error:
        llm.chat([{"role": "user", "content": "q"}])
    assert f"the LLM server at {server.url}" in str(error.value)


def test_a_server_that_is_down_names_itself_and_the_setting():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ModelError, match=r"cannot be reached .*llm_base_url \(PAPERQA_LOCAL_LLM_BASE_URL\)") as error:
        WordsLLM([url], Path("words.gguf")).chat([{"role": "user", "content": "q"}])
    assert url in str(error.value)


def test_the_setting_takes_several_urls_and_refuses_what_is_not_one(tmp_path):
    from paperqa_local.config import load_settings
    from paperqa_local.errors import ConfigError

    settings = load_settings(home=tmp_path, llm_base_url=" http://a:8080/, http://b:8081 ", llm_api_key="k")
    assert settings.llm_base_url == "http://a:8080,http://b:8081" and settings.for_display()["llm_api_key"] == "**********"
    with pytest.raises(ConfigError, match="llm_base_url: 'a:8080' is not an http"):
        load_settings(home=tmp_path, llm_base_url="a:8080")


def test_chroma_server_down_is_a_clear_error_and_exit_code(tmp_path):
    port = free_port()
    run = cli(tmp_path / "a", "stats", env={"PAPERQA_LOCAL_CHROMA_HOST": "127.0.0.1", "PAPERQA_LOCAL_CHROMA_PORT": str(port)})
    assert run.returncode == 1 and f"cannot reach the Chroma server at 127.0.0.1:{port}" in run.stderr
    assert "PAPERQA_LOCAL_CHROMA_HOST" in run.stderr and "Traceback" not in run.stderr


# ---- real servers -------------------------------------------------------------------------------------------------

def cli(data_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PAPERQA_LOCAL_MODEL": "fast", **(env or {})}
    return subprocess.run([sys.executable, "-m", "paperqa_local", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, env=full, timeout=240)


def start(command: list[str], ready_url: str, what: str) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(ready_url, timeout=1)
            return process
        except OSError:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.3)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """One `chroma run` and one `python -m llama_cpp.server` with the bundled 0.5B, as scripts/serve_llm.sh starts it."""
    root = tmp_path_factory.mktemp("servers")
    chroma_port, llm_port = free_port(), free_port()
    started = []
    try:
        started.append(start([str(Path(sys.executable).with_name("chroma")), "run", "--path", str(root / "chroma"),
                              "--host", "127.0.0.1", "--port", str(chroma_port)],
                             f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", "chroma"))
        started.append(start([sys.executable, "-m", "llama_cpp.server", "--model", str(FAST_GGUF), "--host", "127.0.0.1",
                              "--port", str(llm_port), "--n_ctx", "4096", "--n_threads", "2", "--n_threads_batch", "2",
                              "--logits_all", "true", "--interrupt_requests", "false", "--verbose", "false"],
                             f"http://127.0.0.1:{llm_port}/v1/models", "llama_cpp.server"))
        env = {"PAPERQA_LOCAL_CHROMA_HOST": "127.0.0.1", "PAPERQA_LOCAL_CHROMA_PORT": str(chroma_port),
               "PAPERQA_LOCAL_LLM_BASE_URL": f"http://127.0.0.1:{llm_port}"}
        ingest = cli(root / "writer", "ingest", str(SEEDS / "000_8b0c47536576a6c6.txt"), env=env)
        assert ingest.returncode == 0, ingest.stderr
        yield root, env
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=30)


def reader(home: Path, env: dict):
    """An app instance of another machine: its own data directory, the same servers."""
    from paperqa_local import PaperQA

    return PaperQA(data_dir=home, model="fast", chroma_host=env["PAPERQA_LOCAL_CHROMA_HOST"],
                   chroma_port=int(env["PAPERQA_LOCAL_CHROMA_PORT"]), llm_base_url=env["PAPERQA_LOCAL_LLM_BASE_URL"])


@pytest.mark.slow
def test_instances_share_the_store_and_check_claims_through_the_llm_server(servers, tmp_path):
    root, env = servers
    other = reader(tmp_path / "other-machine", env)
    assert other.search("unhealthy node mitigation in cloud infrastructure", k=1, mode="dense")[0].title == DEOXYS
    assert other.search("unhealthy node mitigation in cloud infrastructure", k=1, mode="bm25")[0].title == DEOXYS

    papers = tmp_path / "papers.jsonl"
    papers.write_text(json.dumps({"id": "zoo-1", "title": "Counting marsupials", "abstract": "We count quokkas on islands."}) + "\n")
    assert cli(root / "writer", "ingest", str(papers), env=env).returncode == 0
    assert [hit.paper_id for hit in other.search("quokkas", k=1, mode="bm25")] == ["zoo-1"]  # no restart
    papers.write_text(json.dumps({"id": "zoo-1", "title": "Counting marsupials", "abstract": "We count wombats in burrows."}) + "\n")
    assert cli(root / "writer", "ingest", str(papers), env=env).returncode == 0  # same chunk ids, same count
    assert [hit.paper_id for hit in other.search("wombats burrows", k=1, mode="bm25")] == ["zoo-1"]
    assert other.search("quokkas", k=3, mode="bm25") == []
    mine = tmp_path / "other-machine" / "chroma-servers" / f"127.0.0.1-{env['PAPERQA_LOCAL_CHROMA_PORT']}" / "bm25-papers"
    assert (mine / "paperqa_sync.json").is_file()  # each machine its own index of the server's content

    check = cli(root / "writer", "check", "Deoxys reduces VM downtime compared to a legacy policy", "--no-explain",
                "--json", env=env)  # the CLI through the LLM server
    assert check.returncode == 0, check.stderr
    verdict = json.loads(check.stdout)
    # the Deoxys abstract reports the downtime cut: a verdict either way, resting on it
    assert verdict["verdict"] in {"SUPPORTS", "CONTRADICTS"} and verdict["citations"][0]["title"] == DEOXYS


@pytest.mark.slow
def test_answers_through_the_server_equal_the_in_process_ones(servers, tmp_path):
    from paperqa_local import PaperQA

    root, env = servers
    served = reader(tmp_path / "b", env)
    local = PaperQA(data_dir=tmp_path / "b", model="fast", chroma_host=env["PAPERQA_LOCAL_CHROMA_HOST"],
                    chroma_port=int(env["PAPERQA_LOCAL_CHROMA_PORT"]))
    question = "Which system recommends mitigation actions for unhealthy cloud nodes?"
    a, b = local.ask(question), served.ask(question)
    assert b.answerable and [c.title for c in b.citations] == [DEOXYS]
    assert "decline_logprob" in b.signals  # read from the server's log-probabilities, not the text path
    assert (b.raw_text, b.text) == (a.raw_text, a.text)
    # the server evaluates the prompt in other batches than llama.cpp in-process: the same log-probability up to
    # float rounding, never a different decision
    assert b.signals["relevance"] == a.signals["relevance"]
    assert b.signals["decline_logprob"] == pytest.approx(a.signals["decline_logprob"], abs=0.05)
    claim = "Deoxys reduces VM downtime compared to a legacy policy"
    a, b = local.check(claim, explain=False), served.check(claim, explain=False)
    assert b.verdict == a.verdict
    assert b.label_scores == pytest.approx(a.label_scores, abs=0.05)


@pytest.mark.slow
def test_llm_server_down_is_a_clear_error_and_nothing_stored_changes(servers, tmp_path):
    root, env = servers
    before = cli(root / "writer", "stats", "--json", env=env)
    down = f"http://127.0.0.1:{free_port()}"
    run = cli(root / "writer", "ask", "Which system recommends mitigation actions for unhealthy cloud nodes?",
              env={**env, "PAPERQA_LOCAL_LLM_BASE_URL": down})
    assert run.returncode == 1 and f"the LLM server at {down} cannot be reached" in run.stderr
    assert "PAPERQA_LOCAL_LLM_BASE_URL" in run.stderr and "Traceback" not in run.stderr
    assert cli(root / "writer", "stats", "--json", env=env).stdout == before.stdout

"""OpenAI-compatible LLM servers behind the `LLM` interface (`llm_base_url`): `python -m llama_cpp.server` or
llama.cpp's `llama-server`, one or several.

The prompt is rendered here with the chat template of the GGUF the servers run (read from the local copy, as the
in-process model renders it) and sent as text to /v1/completions, so a reply can start with a prefix and
`score_options` reads the first token's top log-probabilities: the answering pipeline is the one it is in-process,
the decline signal and the label probabilities included. Requests are stateless, so there is no model to lock:
each server queues what it gets, and `lock` lets questions run at once on different servers.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from .errors import ModelError
from .llm_base import LLM, chat_formatter

log = logging.getLogger(__name__)

LOGPROBS = 50  # top log-probabilities asked for; a label's first token outside them counts as the 50th's (at most)
SETTING = "llm_base_url (PAPERQA_LOCAL_LLM_BASE_URL)"


class ServerError(ModelError):
    """An LLM server is down, too slow, or answers what is not a completion."""

    def __init__(self, url: str, problem: str, fix: str = ""):
        super().__init__(f"the LLM server at {url} {problem} — "
                         + (fix or f"start it (scripts/serve_llm.sh) or point {SETTING} at a running one"))
        self.url = url


class Pool:
    """Which server takes the next request: the one with the fewest of this process's requests in flight; among
    equals the one this thread used last (its KV cache holds this question's prompt), else the next in turn."""

    def __init__(self, urls: list[str]):
        self.urls = urls
        self.busy = dict.fromkeys(urls, 0)
        self._lock = threading.Lock()
        self._turn = 0
        self._last = threading.local()

    @contextlib.contextmanager
    def take(self) -> Iterator[str]:
        with self._lock:
            least = min(self.busy.values())
            free = [url for url in self.urls if self.busy[url] == least]
            last = getattr(self._last, "url", None)
            url = last if last in free else free[self._turn % len(free)]
            self._turn += 1
            self.busy[url] += 1
        self._last.url = url
        try:
            yield url
        finally:
            with self._lock:
                self.busy[url] -= 1


class HttpLLM(LLM):
    """A chat model served over HTTP; `gguf` is the local copy of the served model (template, tokenizer, name)."""

    def __init__(self, urls: list[str], gguf: Path, model: str = "", api_key: str | None = None,
                 timeout: float = 120.0, logprobs: bool = True):
        super().__init__()
        self.lock = contextlib.nullcontext()  # nothing shared to protect: the servers queue, this process need not
        self.pool = Pool(urls)
        self.gguf, self.name, self.model, self.api_key, self.timeout = gguf, gguf.name, model, api_key, timeout
        self.logprobs = logprobs
        self._vocab = self._formatter = None
        self._checked: set[str] = set()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # servers are reached directly
        self._loading = threading.Lock()

    # the local vocabulary: chat template, tokens (count_tokens is exact, no round trip)
    def vocab(self):
        with self._loading:
            if self._vocab is None:
                import llama_cpp

                try:
                    vocab = llama_cpp.Llama(model_path=str(self.gguf), vocab_only=True, verbose=False)
                except (ValueError, RuntimeError, OSError) as exc:
                    raise ModelError(f"llama.cpp could not read the vocabulary of {self.gguf} ({exc}) — "
                                     "set `model` to the GGUF the LLM servers run") from exc
                self._formatter = chat_formatter(vocab, self.gguf.name)
                self._vocab = vocab
            return self._vocab

    def count_tokens(self, text: str) -> int:
        return len(self.vocab().tokenize(text.encode(), add_bos=False, special=True))

    def render(self, messages, prefix: str = "") -> str:
        """The prompt as text, as the in-process model renders it (the server tokenizes it the same way)."""
        self.vocab()
        return self._formatter(messages=messages).prompt + prefix

    def _first_pieces(self, spellings) -> set[str]:
        """The text of each spelling's first token, as the servers name tokens in their top log-probabilities."""
        vocab, found = self.vocab(), set()
        for spelling in spellings:
            tokens = vocab.tokenize(spelling.encode(), add_bos=False, special=False)
            if tokens:
                found.add(vocab.detokenize([tokens[0]]).decode("utf-8", errors="ignore"))
        return found

    # HTTP
    def _open(self, url: str, path: str, payload: dict | None = None):
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(url + path, data=data, headers=headers)
        try:
            return self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            body = exc.read()[:300].decode("utf-8", errors="replace")
            fix = "give the server's key in llm_api_key (PAPERQA_LOCAL_LLM_API_KEY)" if exc.code in (401, 403) else ""
            raise ServerError(url, f"answered HTTP {exc.code} to {path}: {body!r}", fix) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise self._timed_out(url, path) from exc
            raise ServerError(url, f"cannot be reached ({reason})") from exc

    def _timed_out(self, url: str, path: str) -> ServerError:
        return ServerError(url, f"did not answer {path} within {self.timeout:g} s",
                           f"check that it runs and is not overloaded, or raise llm_timeout (PAPERQA_LOCAL_LLM_TIMEOUT); "
                           f"{SETTING} names the servers")

    def _json(self, url: str, path: str, payload: dict | None = None) -> dict:
        try:
            with self._open(url, path, payload) as response:
                raw = response.read()
        except TimeoutError as exc:
            raise self._timed_out(url, path) from exc
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError
        except ValueError:
            raise _garbage(url, path, f"not a JSON object: {raw[:120]!r}") from None
        return data

    def _check(self, url: str) -> None:
        """Once per server: it answers /v1/models, and serves the GGUF `model` names (its template, calibration)."""
        if url in self._checked:
            return
        data = self._json(url, "/v1/models")
        if not isinstance(data.get("data"), list):
            raise _garbage(url, "/v1/models", "no model list")
        served = [str(entry.get("id", "")) for entry in data["data"] if isinstance(entry, dict)]
        files = {Path(name).name for name in served if name.endswith(".gguf")}
        if files and self.name not in files and not self.model:
            raise ServerError(url, f"serves {', '.join(sorted(files))}, not {self.name}",
                              f"set `model` (PAPERQA_LOCAL_MODEL) to that GGUF, or {SETTING} to servers of {self.name}")
        self._checked.add(url)

    def _body(self, prompt: str, max_tokens: int, temperature: float, stop=None, **extra) -> dict:
        return {"prompt": prompt, "max_tokens": max_tokens, "temperature": temperature, "stop": stop or [],  # greedy at 0:
                "repeat_penalty": 1.0, "top_k": 40, "top_p": 1.0 if temperature == 0 else 0.95,  # llama_cpp.server's is 1.1
                **({"model": self.model} if self.model else {}), **extra}

    def _complete(self, prompt: str, **options) -> tuple[dict, str]:
        """One completion, not streamed: its first choice and the server that gave it."""
        with self.pool.take() as url:
            self._check(url)
            data = self._json(url, "/v1/completions", self._body(prompt, **options))
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _garbage(url, "/v1/completions", f"no choices in {str(data)[:120]!r}")
        return choices[0], url

    def _top_logprobs(self, prompt: str) -> dict[str, float] | None:
        choice, url = self._complete(prompt, max_tokens=1, temperature=0.0, logprobs=LOGPROBS)
        top = top_logprobs(choice)
        if top is None and self.logprobs:
            log.warning("the LLM server at %s gives no log-probabilities (llama_cpp.server: start it with --logits_all "
                        "true); declines and labels are read from the reply's text instead", url)
            self.logprobs = False
        return top

    @property
    def score_options(self):
        """Present only while the servers give log-probabilities: answering and checking claims then take the
        label probabilities from them, and otherwise read the reply's text (they test `hasattr`)."""
        if not self.logprobs:
            raise AttributeError("score_options: the LLM server gives no log-probabilities")
        return self._score_options

    def _score_options(self, messages, options: list[list[str]], prefix: str = "") -> list[float]:
        """As in-process: per option, the log of the summed probabilities of its spellings' first tokens."""
        top = self._top_logprobs(self.render(messages, prefix))
        if top is None:
            raise ServerError(self.pool.urls[0], "stopped giving log-probabilities", f"restart it; {SETTING}")
        scores = []
        for spellings in options:  # a first token outside the top list: at most as probable as the last one in it
            values = [top[piece] for piece in self._first_pieces(spellings) if piece in top] or [min(top.values())]
            high = max(values)
            scores.append(high + math.log(sum(math.exp(v - high) for v in values)))
        return scores

    def stream_chat(self, messages, generation, max_tokens=256, temperature=0.0, stop=None, prefix="", forbid_first=None):
        """Streamed from /v1/completions (server-sent events). `forbid_first` at temperature 0: the first token is
        the most probable one of the server's top list that is not forbidden, then the rest is streamed after it."""
        started = time.perf_counter()
        prompt = self.render(messages, prefix)
        generation.prompt_tokens = self.count_tokens(prompt)
        generation.finish_reason = "length"
        pieces: Iterator[tuple[str, str | None]] = iter(())
        if forbid_first and temperature == 0 and self.logprobs:
            piece, ended = self._first_allowed(prompt, forbid_first, stop or [])
            pieces, prompt = iter([(piece, "stop" if ended else None)]), prompt + piece
            max_tokens = 0 if ended else max_tokens - bool(piece)
        if max_tokens > 0:
            pieces = itertools.chain(pieces, self._stream(prompt, max_tokens, temperature, stop))
        first = None
        for piece, finish in pieces:
            generation.finish_reason = finish or generation.finish_reason
            if piece:
                first = first or time.perf_counter()
                generation.ttft_ms = generation.ttft_ms or 1000 * (first - started)
                generation.text += piece
                generation.completion_tokens += 1
                yield piece
        ended = time.perf_counter()
        generation.total_ms = 1000 * (ended - started)
        if first is not None and generation.completion_tokens > 1:
            generation.timings["decode_tokens_per_s"] = (generation.completion_tokens - 1) / max(ended - first, 1e-9)

    def _first_allowed(self, prompt: str, forbid: list[str], stop: list[str]) -> tuple[str, bool]:
        """The most probable first token that is not forbidden (as in-process: argmax over the others), and whether
        the reply ends there (the end of the turn, which has no text, or a stop string)."""
        top = self._top_logprobs(prompt)
        if not top:
            return "", False
        banned = self._first_pieces(s for text in forbid for s in (text, " " + text, text.lower(), text.capitalize()))
        piece = max((p for p in top if p not in banned), key=top.__getitem__, default="")
        cut = min((i for i in (piece.find(s) for s in stop if s) if i >= 0), default=-1)
        return (piece[:cut], True) if cut >= 0 else (piece, not piece)

    def _stream(self, prompt: str, max_tokens: int, temperature: float, stop) -> Iterator[tuple[str, str | None]]:
        with self.pool.take() as url:
            self._check(url)
            response = self._open(url, "/v1/completions", self._body(prompt, max_tokens, temperature, stop, stream=True))
            with response:
                try:
                    yield from sse_pieces(response, url)
                except TimeoutError as exc:
                    raise self._timed_out(url, "/v1/completions") from exc


def _garbage(url: str, path: str, detail: str) -> ServerError:
    return ServerError(url, f"answered {path} with what is not an OpenAI-compatible reply ({detail})",
                       f"point {SETTING} at llama_cpp.server or llama-server")


def top_logprobs(choice: dict) -> dict[str, float] | None:
    """The first token's top log-probabilities by token text: llama_cpp.server (and OpenAI's legacy completions)
    give `logprobs.top_logprobs[0]` as a dict, llama-server `logprobs.content[0].top_logprobs` as a list."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return None
    if logprobs.get("top_logprobs"):
        first = logprobs["top_logprobs"][0]
        return {str(k): float(v) for k, v in first.items()} if isinstance(first, dict) and first else None
    content = logprobs.get("content")
    if isinstance(content, list) and content and isinstance(content[0], dict) and content[0].get("top_logprobs"):
        return {str(entry["token"]): float(entry["logprob"]) for entry in content[0]["top_logprobs"]}
    return None


def sse_pieces(lines, url: str) -> Iterator[tuple[str, str | None]]:
    """(text, finish reason) of each server-sent event of a streamed completion, until `data: [DONE]`."""
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").strip() if isinstance(raw, bytes) else raw.strip()
        if not line.startswith("data:"):
            continue  # blank lines between events, comments (": ping"), `event:` and `id:` fields
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
            if "error" in event:
                raise ServerError(url, f"failed while writing the reply: {str(event['error'])[:200]}",
                                  f"see the server's log; {SETTING} names the servers")
            choice = event["choices"][0]
            yield choice.get("text") or "", choice.get("finish_reason")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise _garbage(url, "/v1/completions", f"event {data[:120]!r}") from None

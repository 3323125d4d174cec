"""The LLM backends behind one small interface (`llm_base.LLM`): llama.cpp in-process (the default), or
OpenAI-compatible servers (`llm_http.py`, with `llm_base_url`), chosen in `load_llm`.

One `Llama` instance is kept per process and reused across questions, so llama.cpp keeps the KV cache of
the prompt prefix that questions share (the system prompt) and reads only what is new.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from pathlib import Path

from .config import Settings
from .errors import ModelError
from .hardware import gpu_offload_supported
from .llm_base import LLM, Generation, chat_formatter

__all__ = ["LLM", "Generation", "LlamaCppLLM", "load_llm", "pick_gpu_layers"]  # the interface is handed out here too

log = logging.getLogger(__name__)


class LlamaCppLLM(LLM):
    """llama-cpp-python in-process; the chat template comes from the GGUF."""

    def __init__(self, path: Path, n_ctx: int = 4096, n_threads: int = 2, n_gpu_layers: int = 0, seed: int = 0):
        try:
            import llama_cpp
        except ImportError as exc:
            raise ModelError("llama-cpp-python is not installed — run `make setup` (it builds llama.cpp for this CPU)") from exc
        super().__init__()
        self.path = path
        self.name = path.name
        self.n_gpu_layers = n_gpu_layers
        try:
            self.model = llama_cpp.Llama(
                model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                n_gpu_layers=n_gpu_layers, seed=seed, verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            from .models import refetch_hint

            if "load model" in str(exc):  # llama.cpp says only "Failed to load model from file" for any broken file
                raise ModelError(f"llama.cpp could not load {path}: the file is truncated or damaged, or not a model "
                                 f"this llama.cpp can run — {refetch_hint(path)}") from exc
            raise ModelError(f"llama.cpp could not start {path} ({exc}) — lower n_ctx (PAPERQA_LOCAL_N_CTX) "
                             "or set --n-gpu-layers 0") from exc
        self.n_ctx = n_ctx
        self._formatter = None

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenize(text.encode(), add_bos=False, special=True))

    def stream_chat(self, messages, generation, max_tokens=256, temperature=0.0, stop=None, prefix="", forbid_first=None):
        """`prefix` and `forbid_first` act on greedy decoding only; the text yielded follows the prefix."""
        if temperature == 0:
            yield from self._greedy(messages, generation, max_tokens, stop or [], prefix, forbid_first or [])
            return
        started = time.perf_counter()
        stream = self.model.create_chat_completion(
            messages=messages, stream=True, max_tokens=max_tokens, temperature=temperature,
            top_k=40, repeat_penalty=1.0, stop=stop or [],
        )
        first = None
        for chunk in stream:
            choice = chunk["choices"][0]
            piece = choice.get("delta", {}).get("content") or ""
            if choice.get("finish_reason"):
                generation.finish_reason = choice["finish_reason"]
            if not piece:
                continue
            if first is None:
                first = time.perf_counter()
                generation.ttft_ms = 1000 * (first - started)
            generation.completion_tokens += 1
            generation.text += piece
            yield piece
        ended = time.perf_counter()
        generation.total_ms = 1000 * (ended - started)
        generation.completion_tokens = max(generation.completion_tokens, self._completion_tokens(generation.text))
        generation.prompt_tokens = max(0, self.model.n_tokens - generation.completion_tokens)
        if first is not None and generation.completion_tokens > 1:
            generation.timings["decode_tokens_per_s"] = (generation.completion_tokens - 1) / max(ended - first, 1e-9)

    def _greedy(self, messages, generation, max_tokens, stop, prefix="", forbid_first=()):
        """Greedy decoding straight on llama.cpp: the template rendered once, then eval + argmax per token.

        `create_chat_completion` re-detokenizes, re-checks stops over the whole text and builds a dict per token;
        here a token costs one `eval`, one argmax over the logits and one incremental detokenization, so the
        pipeline decodes at llama.cpp's own speed. The KV cache of the longest shared prefix is kept.
        """
        import codecs

        import llama_cpp
        import numpy as np

        started = time.perf_counter()
        model = self.model
        tokens = self._render(messages, prefix)
        generation.prompt_tokens = len(tokens)
        generation.timings["prompt_tokens_reused"] = self._prefill(tokens)

        vocab, ctx, n_vocab = model._model.vocab, model._ctx.ctx, model.n_vocab()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = [s for s in stop if s]
        pending, first_token, first_text, generated = "", None, None, 0
        banned = self._first_tokens(forbid_first)
        generation.finish_reason = "length"
        while generated < max_tokens and model.n_tokens < self.n_ctx:
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
            if generated == 0 and banned:
                logits = logits.copy()
                logits[banned] = -np.inf
            token = int(logits.argmax())
            generated += 1
            first_token = first_token or time.perf_counter()
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                generation.finish_reason = "stop"
                break
            pending += decoder.decode(model.detokenize([token]))
            cut = min((i for i in (pending.find(s) for s in stops) if i >= 0), default=-1)
            if cut >= 0:
                pending = pending[:cut]
                generation.finish_reason = "stop"
            emit = len(pending) if cut >= 0 else len(pending) - _held_back(pending, stops)
            if emit > 0:
                piece, pending = pending[:emit], pending[emit:]
                if first_text is None:
                    first_text = time.perf_counter()
                    generation.ttft_ms = 1000 * (first_text - started)
                generation.text += piece
                yield piece
            if cut >= 0:
                break
            model.eval([token])
        if pending and generation.finish_reason != "stop":
            generation.text += pending
            yield pending
        ended = time.perf_counter()
        generation.total_ms = 1000 * (ended - started)
        generation.completion_tokens = generated
        if first_token is not None and generated > 1:
            generation.timings["decode_tokens_per_s"] = (generated - 1) / max(ended - first_token, 1e-9)

    def _first_tokens(self, texts) -> list[int]:
        """The first token of each text, as it would start a reply (with and without a leading space)."""
        found = set()
        for text in texts:
            for spelling in (text, " " + text, text.lower(), text.capitalize()):
                pieces = self.model.tokenize(spelling.encode(), add_bos=False, special=False)
                if pieces:
                    found.add(pieces[0])
        return sorted(found)

    def _prefill(self, tokens: list[int]) -> int:
        """Evaluate `tokens`, reusing the KV cache of the longest prefix shared with what is cached; the logits of
        the last token are then ready. Returns how many tokens were reused."""
        model = self.model
        if len(tokens) + 1 >= self.n_ctx:
            raise ModelError(f"the prompt is {len(tokens)} tokens, more than the context of {self.n_ctx} — "
                             "lower `evidence_sentences` or `k`, or raise `n_ctx`")
        kept = 0
        for a, b in zip(model.input_ids[: model.n_tokens], tokens):
            if a != b:
                break
            kept += 1
        kept = min(kept, len(tokens) - 1)  # evaluate at least one token, for its logits
        model.n_tokens = kept
        model.eval(tokens[kept:])
        return kept

    def score_options(self, messages, options: list[list[str]], prefix: str = "") -> list[float]:
        """For each option (a list of its spellings), the log-probability that the reply, after `prefix`, goes on
        with it, from the first token of each spelling (distinct first tokens make this exact enough for a closed
        label set). The prompt's KV cache is reused, so scoring after a short prefix costs a few tokens."""
        import llama_cpp
        import numpy as np

        self._prefill(self._render(messages, prefix))
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.model._ctx.ctx, -1), shape=(self.model.n_vocab(),))
        top = float(logits.max())
        log_total = top + float(np.log(np.exp(logits.astype(np.float64) - top).sum()))
        scores = []
        for spellings in options:
            firsts = {self.model.tokenize(s.encode(), add_bos=False, special=False)[0] for s in spellings}
            values = np.array([float(logits[t]) for t in firsts])
            scores.append(float(values.max() + np.log(np.exp(values - values.max()).sum()) - log_total))
        return scores

    def _render(self, messages, prefix: str = "") -> list[int]:
        """The chat template of the GGUF, rendered and tokenized as llama-cpp-python's chat handler does."""
        if self._formatter is None:
            self._formatter = chat_formatter(self.model, self.path.name)
        result = self._formatter(messages=messages)
        return self.model.tokenize((result.prompt + prefix).encode(), add_bos=not result.added_special, special=True)

    def _completion_tokens(self, text: str) -> int:
        return len(self.model.tokenize(text.encode(), add_bos=False, special=False)) if text else 0


def _held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters could be the start of a stop string, so must wait for the next token."""
    return max((k for s in stops for k in range(min(len(s) - 1, len(text)), 0, -1) if text.endswith(s[:k])), default=0)


def pick_gpu_layers(requested: int) -> tuple[int, str]:
    """-1 means all layers when this llama.cpp build can offload to a GPU, else none; the reason says why."""
    if requested != -1:
        return requested, "set explicitly"
    if gpu_offload_supported():
        return -1, "llama.cpp was built with GPU offload: all layers on the GPU"
    return 0, "llama.cpp has no GPU offload in this build (CPU build): all layers on the CPU"


_LOADED: dict[tuple, LLM] = {}
_LOADING = threading.Lock()  # two first questions at once load one model, not two


@atexit.register
def _close_models() -> None:
    """Free llama.cpp models while the interpreter still runs: freed at its teardown instead, llama-cpp-python's
    destructor finds its library already unloaded and prints a TypeError traceback at every exit."""
    for llm in list(_LOADED.values()):
        model = getattr(llm, "model", None)
        if model is not None and hasattr(model, "close"):
            model.close()


def load_llm(settings: Settings) -> LLM:
    """The process-wide instance for these settings: llama.cpp in-process (loading a GGUF takes seconds; its KV cache
    is worth keeping), or with `llm_base_url` a client of those servers, which reads the chat template, tokenizer
    and calibration from the local copy of the GGUF that `model` names."""
    from .models import resolve

    path = resolve(settings.model, settings.models_dir)
    if settings.llm_base_url:
        from .llm_http import HttpLLM

        secret = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        key = ("http", settings.llm_base_url, str(path), settings.llm_model, secret, settings.llm_timeout, settings.llm_logprobs)
        with _LOADING:
            if key not in _LOADED:
                _LOADED[key] = HttpLLM(settings.llm_base_url.split(","), path, settings.llm_model, secret,
                                       settings.llm_timeout, settings.llm_logprobs)
            return _LOADED[key]
    layers, reason = pick_gpu_layers(settings.n_gpu_layers)
    key = (str(path), settings.n_ctx, settings.n_threads, layers)
    with _LOADING:
        if key not in _LOADED:
            _LOADED.clear()  # one model in memory at a time (one still answering keeps its own until it is done)
            log.info("loading %s (n_gpu_layers=%s: %s)", path, layers, reason)
            _LOADED[key] = LlamaCppLLM(path, settings.n_ctx, settings.n_threads, layers)  # a failed load caches nothing
        return _LOADED[key]

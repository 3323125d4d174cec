"""The LLM interface every backend implements (`llm.py`: llama.cpp in-process; `llm_http.py`: servers)."""

from __future__ import annotations

import collections
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

from .errors import ModelError


@dataclass
class Generation:
    """Running totals of one generation, filled in as tokens stream."""

    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float = 0.0
    total_ms: float = 0.0
    finish_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


class QueueLock:
    """A re-entrant lock handed on in the order it was asked for. threading's locks promise no order: under load a
    thread that releases and asks again at once wins again, and one caller of eight waited 12 s for answers of
    0.4 s on a GPU (benchmarks/load.py --direct)."""

    def __init__(self):
        self._turn = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._waiting: collections.deque[object] = collections.deque()  # one token per waiting caller, in order

    def acquire(self) -> bool:
        me = threading.get_ident()
        with self._turn:
            if self._owner == me:
                self._depth += 1
                return True
            token = object()
            self._waiting.append(token)
            try:
                self._turn.wait_for(lambda: self._owner is None and self._waiting[0] is token)
            finally:
                self._waiting.remove(token)  # taken, or given up (an interrupt): the next in line goes
                self._turn.notify_all()
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._turn:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a QueueLock this thread does not hold")
            self._depth -= 1
            if not self._depth:
                self._owner = None
                self._turn.notify_all()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class LLM(ABC):
    """A chat model. Implement `stream_chat`; `chat` is built on it.

    `lock` is the model's own: a llama.cpp context is not thread-safe, and one loaded model is shared by every
    `PaperQA` of the process (`load_llm`), so whoever generates holds the lock of the model, not of the caller.
    A backend whose calls share no state (`llm_http.HttpLLM`: each request stands alone, the servers queue them)
    hands out a lock that never blocks, so questions are not queued behind one another in this process."""

    name: str = "llm"

    def __init__(self):
        self.lock = QueueLock()

    @abstractmethod
    def stream_chat(self, messages: list[dict[str, str]], generation: Generation, max_tokens: int = 256,
                    temperature: float = 0.0, stop: list[str] | None = None, prefix: str = "",
                    forbid_first: list[str] | None = None) -> Iterator[str]:
        """Yield text pieces as they are decoded; fill `generation` (tokens, timings) as it goes. `prefix` is
        written for the model as the start of its reply; `forbid_first` are texts the reply may not start with."""

    def chat(self, messages: list[dict[str, str]], **options) -> Generation:
        generation = Generation()
        for _ in self.stream_chat(messages, generation, **options):
            pass
        return generation

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)


def chat_formatter(model, name: str):
    """The chat template a GGUF carries, as llama-cpp-python's Jinja2 formatter (`model`: a loaded `Llama`, a
    vocabulary-only one will do); the fix named when the file has none."""
    from llama_cpp import llama_chat_format

    template = model.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelError(f"{name} has no chat template in its metadata — use an instruct/chat GGUF")
    piece = lambda token: model._model.token_get_text(token) if token >= 0 else ""  # noqa: E731
    return llama_chat_format.Jinja2ChatFormatter(
        template=template, eos_token=piece(model.token_eos()), bos_token=piece(model.token_bos()))

"""The LLM interface every backend implements (`llm.py`: llama.cpp in-process; `llm_http.py`: servers)."""

from __future__ import annotations

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


class LLM(ABC):
    """A chat model. Implement `stream_chat`; `chat` is built on it.

    `lock` is the model's own: a llama.cpp context is not thread-safe, and one loaded model is shared by every
    `PaperQA` of the process (`load_llm`), so whoever generates holds the lock of the model, not of the caller.
    A backend whose calls share no state (`llm_http.HttpLLM`: each request stands alone, the servers queue them)
    hands out a lock that never blocks, so questions are not queued behind one another in this process."""

    name: str = "llm"

    def __init__(self):
        self.lock = threading.RLock()

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

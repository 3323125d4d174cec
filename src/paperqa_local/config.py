"""Settings: every field described, typos refused, read from arguments, `PAPERQA_LOCAL_*` variables or defaults."""

from __future__ import annotations

import difflib
import os
import re
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError
from .hardware import physical_cores

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_home() -> Path:
    """Per-user data directory: `$PAPERQA_LOCAL_HOME`, else `$XDG_DATA_HOME/paperqa-local`."""
    if os.environ.get("PAPERQA_LOCAL_HOME"):
        return Path(os.environ["PAPERQA_LOCAL_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "paperqa-local"


def default_models_dir() -> Path:
    """The checkout's `models/` when running from one, else `models/` in the data directory."""
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / "models"
    return default_home() / "models"


COLLECTION_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{1,510})[A-Za-z0-9]")  # Chroma's rule
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def check_collection_name(name: str) -> str:
    """`name` if Chroma accepts it as a collection (a library), else a ValueError saying what a name may be."""
    if not COLLECTION_NAME.fullmatch(name) or ".." in name or _IPV4.fullmatch(name):
        raise ValueError(f"{name!r} is not a Chroma collection name — use 3 to 512 letters, digits, '.', '_' or '-', "
                         "starting and ending with a letter or digit (no '..', not an IP address)")
    return name


class Settings(BaseSettings):
    """Effective settings of paperqa-local (`paperqa-local config` prints them)."""

    model_config = SettingsConfigDict(env_prefix="PAPERQA_LOCAL_", extra="forbid", validate_assignment=True)

    home: Path = Field(default_factory=default_home, validate_default=True, description="Data directory holding the Chroma store and keyword index.")
    collection: str = Field(default="papers", description="Chroma collection name inside the store.")
    chroma_host: str | None = Field(default=None, description="Use a Chroma server at this host instead of the embedded store.")
    chroma_port: int = Field(default=8000, ge=1, le=65535, description="Port of the Chroma server, with chroma_host.")

    embedding_model: str = Field(default="all-MiniLM-L6-v2", description="Sentence-transformers model: the bundled all-MiniLM-L6-v2, or a local path.")
    embed_device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="Where to embed: auto picks CUDA when torch sees a GPU.")
    embed_batch_size: int = Field(default=0, ge=0, description="Texts per embedding batch; 0: 512 on a GPU, 64 on the CPU.")
    chunk_chars: int = Field(default=1200, ge=200, description="Longest chunk in characters; longer texts split on sentence boundaries.")

    k: int = Field(default=5, ge=1, le=100, description="Papers returned by search and used as sources for answers.")
    retrieval_mode: Literal["hybrid", "dense", "bm25"] = Field(default="hybrid", description="Keyword (BM25), dense, or both fused.")
    candidates: int = Field(default=100, ge=10, description="Chunks each retriever hands to fusion.")
    dense_weight: float = Field(default=0.4, ge=0.0, le=1.0, description="Weight of the dense scores in hybrid fusion (keyword gets the rest).")

    model: str = Field(default="default", description="LLM: a preset (default, fast), a file name in models_dir, or a path to a GGUF.")
    models_dir: Path = Field(default_factory=default_models_dir, description="Where GGUF models live.")
    n_ctx: int = Field(default=4096, ge=512, description="LLM context window in tokens.")
    n_threads: int = Field(default_factory=physical_cores, ge=1, description="LLM threads (default: physical cores).")
    n_gpu_layers: int = Field(default=-1, ge=-1, description="Layers offloaded to the GPU: -1 = all when a CUDA build and GPU exist, else 0.")
    max_tokens: int = Field(default=256, ge=16, description="Longest answer in tokens.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="Sampling temperature (0 = greedy, reproducible).")
    evidence_tokens: int = Field(default=0, ge=0, description="Prompt-token budget for the evidence of an answer; 0: by the hardware (whole abstracts of every source when the LLM runs on a GPU, a few hundred tokens on a CPU).")
    evidence_sentences: int = Field(default=3, ge=1, le=20, description="Sentences of evidence per paper for `check` and `decide`.")
    min_relevance: float = Field(default=0.3, ge=0.0, le=1.0, description="Below this dense similarity of the best evidence, the question is declined without asking the LLM.")

    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible LLM server(s) to answer with instead of llama.cpp in-process: one URL (http://host:8080), or several comma-separated, each request going to the least busy; `model` must name the GGUF they serve (its chat template and calibration are read from the local copy).")
    llm_api_key: SecretStr | None = Field(default=None, description="Key sent to the LLM server(s) as `Authorization: Bearer`, with llm_base_url.")
    llm_model: str = Field(default="", description="Model name sent to the LLM server(s) in each request; empty: the one they serve.")
    llm_slots: int = Field(default=1, ge=1, le=64, description="Requests each LLM server answers at once: 1 for llama_cpp.server, its --parallel for llama-server (continuous batching); the app answers this many questions per server at once.")
    llm_timeout: float = Field(default=120.0, gt=0, description="Seconds to wait for an LLM server to accept a request or send the next piece of a reply.")
    llm_logprobs: bool = Field(default=True, description="Read decline and label probabilities from the LLM server's log-probabilities, as in-process; off: from the reply's text (for servers that give none).")

    @field_validator("home")
    @classmethod
    def _home_is_a_folder(cls, home: Path) -> Path:
        """Caught here, for every command: later the store's `mkdir` would fail with a bare NotADirectoryError."""
        home = home.expanduser()
        for path in (home, *home.parents):
            try:
                if not path.exists():
                    continue
            except OSError:  # cannot look (permissions): the store says what it cannot do when it opens
                break
            if not path.is_dir():
                raise ValueError(f"{path.absolute()} is a file, not a directory — point --data-dir (or PAPERQA_LOCAL_HOME) at a folder")
            break
        return home

    @field_validator("llm_base_url")
    @classmethod
    def _server_urls(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        urls = [url.strip().rstrip("/") for url in value.split(",") if url.strip()]
        bad = [url for url in urls if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an http(s) URL — give the server's address, e.g. http://127.0.0.1:8080 "
                             "(several: comma-separated)")
        return ",".join(urls)

    @field_validator("collection")
    @classmethod
    def _chroma_collection_name(cls, name: str) -> str:
        return check_collection_name(name)

    def store_dir(self) -> Path:
        return self.home / "store"

    def for_display(self) -> dict[str, Any]:
        return {name: str(value) if isinstance(value, (Path, SecretStr)) else value for name, value in self.model_dump().items()}


ENV_PREFIX = "PAPERQA_LOCAL_"
NOT_SETTINGS = {"HOME", "FORCE_GPU_TESTS", "UPDATE_SCREENSHOT"}  # HOME: read by default_home() too; the others: test switches


def check_environment() -> None:
    """A misspelt `PAPERQA_LOCAL_*` variable is an error naming the closest setting, not silently ignored."""
    names = {name.upper() for name in Settings.model_fields}
    for key in os.environ:
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX):] not in names | NOT_SETTINGS:
            close = difflib.get_close_matches(key[len(ENV_PREFIX):], sorted(names), n=1)
            hint = f" — did you mean {ENV_PREFIX}{close[0]}?" if close else ""
            raise ConfigError(f"unknown setting in the environment: {key}{hint} (`paperqa-local config` lists them)")


def allowed_values(name: str) -> str:
    """What a setting accepts, in words, from its type and bounds: "a whole number from 1 to 100"."""
    field = Settings.model_fields[name]
    if typing.get_origin(field.annotation) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(field.annotation)))
    kind = {int: "a whole number", float: "a number", Path: "a folder"}.get(field.annotation, "text")
    low = next((m.ge for m in field.metadata if getattr(m, "ge", None) is not None), None)
    high = next((m.le for m in field.metadata if getattr(m, "le", None) is not None), None)
    if low is not None and high is not None:
        return f"{kind} from {low} to {high}"
    if low is not None:
        return f"{kind} of at least {low}"
    return kind


def _problem(error: dict[str, Any], from_environment: set[str]) -> str:
    """One invalid value: the setting, what it got (and from which variable), what it accepts."""
    name = str(error["loc"][0]) if error["loc"] else "settings"
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(name, list(Settings.model_fields), n=1)
        return f"{name}: no such setting" + (f" — did you mean {close[0]}?" if close else "")
    if error["type"] == "value_error":  # one of the validators above: its message names the fix
        return f"{name}: {error['ctx']['error']}"
    if name not in Settings.model_fields:
        return f"{name}: {error['msg']}"
    source = f" from {ENV_PREFIX}{name.upper()}" if name in from_environment else ""
    return f"{name}: got {error['input']!r}{source}, must be {allowed_values(name)}"


def load_settings(settings: Settings | None = None, **overrides: Any) -> Settings:
    """Settings from overrides, environment and defaults (or `settings` with overrides, validated again); a bad
    value names the setting, where it came from and what it accepts."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    check_environment()
    try:
        if settings is not None:
            return Settings(**{**settings.model_dump(), **clean})
        return Settings(**clean)
    except ValidationError as exc:
        from_environment = set() if settings is not None else {
            name for name in Settings.model_fields if name not in clean and ENV_PREFIX + name.upper() in os.environ}
        problems = "; ".join(_problem(error, from_environment) for error in exc.errors())
        raise ConfigError(f"invalid setting ({problems}); see `paperqa-local config` for the valid names and values") from exc

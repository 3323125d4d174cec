"""Bad configuration meets a one-line error that names the fix, a non-zero exit and no traceback, and the stored
library is left as it was (issue #11). Real `paperqa-local` processes, a real Chroma store on disk, real llama.cpp
loading small broken files (never the bundled models)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest

RECORDS = [
    {"title": "Graph neural networks for molecules", "year": 2021,
     "abstract": "We study message passing networks that predict molecular properties from atom graphs."},
    {"title": "Sparse attention for long documents", "year": 2022,
     "abstract": "A transformer variant attends to a few tokens per position, reading long documents cheaply."},
    {"title": "A record without its abstract"},
]
QUESTION = "Which paper predicts molecular properties from atom graphs?"
PRESET_FIX = "scripts/setup.sh --models all"


def run_cli(*args: str, home: Path, env: dict[str, str] | None = None, prefix: tuple[str, ...] = (),
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PAPERQA_LOCAL_")}
    environment.update({"PAPERQA_LOCAL_HOME": str(home), "HF_HUB_OFFLINE": "1", **(env or {})})
    return subprocess.run([*prefix, sys.executable, "-m", "paperqa_local", *args], capture_output=True, text=True,
                          env=environment, cwd=cwd or home.parent, timeout=600)


def error_line(run: subprocess.CompletedProcess, *texts: str) -> str:
    """The run failed cleanly: non-zero exit, no traceback, one `error:` line holding every text."""
    assert run.returncode != 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.stderr
    for text in texts:
        assert text in errors[0], errors[0]
    return errors[0]


def stored(data_dir: Path) -> list[tuple]:
    """What the store holds (Chroma rewrites its files' bytes on every open, so compare contents)."""
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(data_dir / "store"), settings=Settings(anonymized_telemetry=False))
    got = client.get_collection("papers").get(include=["documents", "metadatas"])
    return sorted(zip(got["ids"], got["documents"], [json.dumps(m, sort_keys=True) for m in got["metadatas"]]))


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A small real index (MiniLM, Chroma on disk), ingested once by the CLI from a file with one bad record."""
    root = tmp_path_factory.mktemp("library")
    papers = root / "papers.jsonl"
    papers.write_text("".join(json.dumps(record) + "\n" for record in RECORDS))
    ingest = run_cli("ingest", str(papers), home=root / "data")
    assert ingest.returncode == 0, ingest.stderr
    return root / "data", papers, ingest


@pytest.fixture
def data_dir(library, tmp_path) -> Path:
    """A copy of the library of one's own, to break or to check afterwards."""
    copy = tmp_path / "data"
    shutil.copytree(library[0], copy)
    return copy


def gguf(path: Path, body: bytes, version: int = 3, tensors: int = 1, entries: int = 1) -> Path:
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", version, tensors, entries) + body)
    return path


# 1. models: folders, empty names, foreign and broken files

@pytest.mark.parametrize("given", ["folder", ""])
def test_model_that_is_a_folder_or_empty_names_the_fix(tmp_path, given):
    model = str(tmp_path) if given else ""
    run = run_cli("ask", QUESTION, "--model", model, home=tmp_path / "home")
    if given:
        error_line(run, f"{tmp_path} is a folder, not a model file", "--model default or fast", PRESET_FIX)
    else:
        error_line(run, "no model given", "give a preset (default, fast)")


@pytest.mark.parametrize("content, says", [
    (b"hello, I am a text file\n", "is not a GGUF model"),
    (os.urandom(4096), "is not a GGUF model"),
    (b"", "is empty"),
    (b"GGUF" + struct.pack("<I", 7) + os.urandom(4096), "damaged"),
    (b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 1) + os.urandom(4096), "has a damaged GGUF header"),
    (b"GGUF\x03\x00", "is truncated"),
])
def test_foreign_or_broken_file_named_gguf_names_the_file_and_the_fix(tmp_path, content, says):
    model = tmp_path / "mine.gguf"
    model.write_bytes(content)
    run = run_cli("ask", QUESTION, "--model", str(model), home=tmp_path / "home")
    error_line(run, str(model), says, PRESET_FIX)


def test_gguf_whose_header_is_right_but_content_broken_is_refused_by_llama_cpp_cleanly(data_dir, tmp_path):
    """Past the header check: llama.cpp itself refuses it ("Failed to load model"), wrapped with the fix."""
    before = stored(data_dir)
    for model in (gguf(tmp_path / "garbled.gguf", os.urandom(8192)), gguf(tmp_path / "cut.gguf", b"\x05\x00")):
        run = run_cli("ask", QUESTION, "--model", str(model), home=data_dir, env={"PAPERQA_LOCAL_MIN_RELEVANCE": "0"})
        error_line(run, f"llama.cpp could not load {model}", "truncated or damaged", f"download {model.name} again", PRESET_FIX)
    assert stored(data_dir) == before


def test_failed_load_leaves_nothing_in_the_model_cache(tmp_path):
    from paperqa_local import llm
    from paperqa_local.config import load_settings
    from paperqa_local.errors import ModelError

    model = gguf(tmp_path / "garbled.gguf", os.urandom(8192))
    settings = load_settings(home=tmp_path / "home", model=str(model), n_threads=1)
    for _ in range(2):  # the second attempt loads again (and fails again): no half-made model was kept
        with pytest.raises(ModelError, match="llama.cpp could not load"):
            llm.load_llm(settings)
        assert not any(key[0] == str(model) for key in llm._LOADED)


# 2. presets

def test_unknown_preset_lists_the_presets(tmp_path):
    run = run_cli("ask", QUESTION, "--model", "fastest", home=tmp_path / "home")
    error_line(run, "no model 'fastest'", "not a preset (default, fast)", "qwen2.5-coder-1.5b, qwen2.5-coder-0.5b")


# 3. setting values: variables, flags, the Python API

@pytest.mark.parametrize("command, env, says", [
    (["config"], {"PAPERQA_LOCAL_K": "0"}, "k: got '0' from PAPERQA_LOCAL_K, must be a whole number from 1 to 100"),
    (["config"], {"PAPERQA_LOCAL_K": "x"}, "k: got 'x' from PAPERQA_LOCAL_K, must be a whole number from 1 to 100"),
    (["config"], {"PAPERQA_LOCAL_TEMPERATURE": "-1"}, "temperature: got '-1' from PAPERQA_LOCAL_TEMPERATURE, must be a number from 0.0 to 2.0"),
    (["config"], {"PAPERQA_LOCAL_N_CTX": "12"}, "n_ctx: got '12' from PAPERQA_LOCAL_N_CTX, must be a whole number of at least 512"),
    (["config"], {"PAPERQA_LOCAL_EMBED_DEVICE": "tpu"}, "embed_device: got 'tpu' from PAPERQA_LOCAL_EMBED_DEVICE, must be one of auto, cpu, cuda"),
    (["config"], {"PAPERQA_LOCAL_COLLECTION": "p"}, "'p' is not a Chroma collection name"),
    (["search", "graphs", "--k", "0"], {}, "k: got 0, must be a whole number from 1 to 100"),
    (["ask", QUESTION, "--k", "101"], {}, "k: got 101, must be a whole number from 1 to 100"),
    (["config", "--n-gpu-layers", "-5"], {}, "n_gpu_layers: got -5, must be a whole number of at least -1"),
])
def test_invalid_setting_names_the_setting_and_what_it_accepts(tmp_path, command, env, says):
    run = run_cli(*command, home=tmp_path / "home", env=env)
    error_line(run, "invalid setting (", says, "paperqa-local config")
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize("override, says", [
    ({"k": 0}, "k: got 0, must be a whole number from 1 to 100"),
    ({"k": "x"}, "k: got 'x', must be a whole number from 1 to 100"),
    ({"temperature": -1}, "temperature: got -1, must be a number from 0.0 to 2.0"),
    ({"n_ctx": 12}, "n_ctx: got 12, must be a whole number of at least 512"),
    ({"tempreature": 0.5}, "tempreature: no such setting — did you mean temperature?"),
])
def test_python_api_validates_overrides_of_given_settings(tmp_path, override, says):
    from paperqa_local import PaperQA
    from paperqa_local.config import load_settings
    from paperqa_local.errors import ConfigError

    with pytest.raises(ConfigError) as given:
        PaperQA(settings=load_settings(home=tmp_path), **override)
    assert says in str(given.value)
    with pytest.raises(ConfigError) as fresh:
        PaperQA(data_dir=tmp_path, **override)
    assert says in str(fresh.value)


# 9. misspelt variables

def test_misspelt_variable_is_refused_by_the_cli(tmp_path):
    run = run_cli("search", "graphs", home=tmp_path / "home", env={"PAPERQA_LOCAL_TEMPRATURE": "0.5"})
    error_line(run, "unknown setting in the environment: PAPERQA_LOCAL_TEMPRATURE", "did you mean PAPERQA_LOCAL_TEMPERATURE?")


# 4. the data directory is a file, or read-only

@pytest.mark.parametrize("command", [["stats"], ["search", "graphs"], ["ingest", "papers.jsonl"], ["config"]])
@pytest.mark.parametrize("how", ["--data-dir", "PAPERQA_LOCAL_HOME", "below a file"])
def test_data_dir_that_is_a_file_says_so(library, tmp_path, command, how):
    shutil.copy(library[1], tmp_path / "papers.jsonl")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("my notes\n")
    given = a_file / "index" if how == "below a file" else a_file
    if how == "PAPERQA_LOCAL_HOME":
        run = run_cli(*command, home=given, cwd=tmp_path)
    else:
        run = run_cli("--data-dir", str(given), *command, home=tmp_path / "unused", cwd=tmp_path)
    error_line(run, f"{a_file} is a file, not a directory — point --data-dir", "at a folder")
    assert "ingest seeds/ first" not in run.stderr
    assert a_file.read_text() == "my notes\n"


def as_reader_only(tmp_path: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    """Run as `nobody` keeping only CAP_DAC_READ_SEARCH (the interpreter lives under root's home): every file can
    be read, none written that nobody does not own — a library someone else owns, shared read-only."""
    if os.geteuid() != 0 or shutil.which("capsh") is None:
        pytest.skip("needs root and capsh to run the CLI as another user")
    home = tmp_path / "nobody-home"
    home.mkdir()
    home.chmod(0o777)
    prefix = ("capsh", "--caps=cap_dac_read_search+eip cap_setpcap,cap_setuid,cap_setgid+ep", "--keep=1",
              "--user=nobody", "--addamb=cap_dac_read_search", "--", "-c", 'exec "$0" "$@"')
    return prefix, {"HOME": str(home)}


def on_read_only_mount(folder: Path) -> tuple[str, ...]:
    """Run in a mount namespace where `folder` is bind-mounted read-only (a read-only disk or share)."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("needs unshare -m (mount namespaces) for a read-only mount")
    return ("unshare", "-m", "sh", "-c", f'mount --bind -o ro "{folder}" "{folder}" && exec "$@"', "sh")


@pytest.mark.parametrize("kind", ["another user's", "read-only mount"])
def test_read_only_data_dir(data_dir, library, tmp_path, kind):
    before = stored(data_dir)
    if kind == "read-only mount":
        prefix, env, store_says = on_read_only_mount(data_dir), {}, "(read-only file system)"
    else:
        (prefix, env), store_says = as_reader_only(tmp_path), "(read-only)"
    for command in (["stats"], ["search", "graphs"]):  # Chroma opens its store for writing even to read it
        run = run_cli(*command, home=data_dir, env=env, prefix=prefix)
        error_line(run, f"cannot write to {data_dir / 'store'} {store_says}", "copy the data directory somewhere writable")
    run = run_cli("ingest", str(library[1]), home=data_dir, env=env, prefix=prefix)
    line = error_line(run, f"cannot write to {data_dir}")
    assert "read-only" in line or "permission denied" in line
    assert stored(data_dir) == before


def test_new_data_dir_under_a_read_only_folder(tmp_path):
    parent = tmp_path / "shared"
    parent.mkdir()
    run = run_cli("search", "graphs", home=parent / "index", prefix=on_read_only_mount(parent))
    error_line(run, f"cannot write to {parent} (read-only file system)", "point --data-dir at a folder you can write to")


# 5. a damaged store, or another Chroma version's

@pytest.mark.parametrize("command", [["stats"], ["search", "graphs"], ["ingest", "papers.jsonl"]])
def test_garbage_chroma_database_names_the_fix(library, tmp_path, command):
    shutil.copy(library[1], tmp_path / "papers.jsonl")
    database = tmp_path / "data" / "store" / "chroma.sqlite3"
    database.parent.mkdir(parents=True)
    garbage = os.urandom(20000)
    database.write_bytes(garbage)
    run = run_cli(*command, home=tmp_path / "data", cwd=tmp_path)
    error_line(run, f"the store at {database.parent} was written by another Chroma version or is damaged",
               "re-ingest into a new --data-dir")
    assert database.read_bytes() == garbage


def test_store_of_another_chroma_version_names_the_fix(data_dir):
    """A store whose schema migrations differ from this Chroma's (what another version leaves behind)."""
    with sqlite3.connect(data_dir / "store" / "chroma.sqlite3") as db:
        db.execute("UPDATE migrations SET hash = 'from-another-version' WHERE dir = 'sysdb' AND version = 1")
    run = run_cli("stats", home=data_dir)
    error_line(run, "was written by another Chroma version or is damaged", "Inconsistent hash", "re-ingest into a new --data-dir")


def test_chroma_03_store_names_the_fix(tmp_path):
    store = tmp_path / "data" / "store"
    store.mkdir(parents=True)
    (store / "chroma-collections.parquet").write_bytes(b"PAR1")
    run = run_cli("search", "graphs", home=tmp_path / "data")
    error_line(run, "written by Chroma 0.3 or older", "re-ingest into a new --data-dir")
    assert sorted(p.name for p in store.iterdir()) == ["chroma-collections.parquet"]


def test_stats_of_an_empty_folder_creates_nothing(tmp_path):
    (tmp_path / "data" / "store").mkdir(parents=True)
    run = run_cli("stats", home=tmp_path / "data")
    error_line(run, "no index at", "run `paperqa-local ingest seeds/` first")
    assert list((tmp_path / "data" / "store").iterdir()) == []


# 6. the embedding model

@pytest.mark.parametrize("model, says", [
    ("/nonexistent", "embedding model '/nonexistent' is neither the bundled all-MiniLM-L6-v2 nor a local"),
    ("all-mpnet-base-v2", "embedding model 'all-mpnet-base-v2' is neither the bundled all-MiniLM-L6-v2 nor a local"),
    ("empty-folder", "could not load the embedding model from"),
])
def test_missing_embedding_model_names_the_fix(library, tmp_path, model, says):
    if model == "empty-folder":
        model = str(tmp_path / "my-model")
        Path(model).mkdir()
    run = run_cli("ingest", str(library[1]), home=tmp_path / "data", env={"PAPERQA_LOCAL_EMBEDDING_MODEL": model})
    line = error_line(run, says, "all-MiniLM-L6-v2")
    assert "scripts/setup.sh" in line or "sentence-transformers folder" in line
    assert not (tmp_path / "data" / "store").exists()


def test_wrong_embedding_model_on_a_built_store_changes_nothing(data_dir):
    before = stored(data_dir)
    run = run_cli("search", "graphs", home=data_dir, env={"PAPERQA_LOCAL_EMBEDDING_MODEL": "/nonexistent"})
    error_line(run, "/nonexistent", "PAPERQA_LOCAL_EMBEDDING_MODEL=all-MiniLM-L6-v2")
    assert stored(data_dir) == before


def test_empty_store_made_with_another_embedding_model_takes_the_new_one(tmp_path, library):
    """A first command that failed on a bad embedding model leaves no store that refuses the right one."""
    from paperqa_local.config import load_settings
    from paperqa_local.store import Store

    Store(load_settings(home=tmp_path / "data", embedding_model="/nonexistent")).count()  # creates it, empty
    run = run_cli("ingest", str(library[1]), home=tmp_path / "data")
    assert run.returncode == 0, run.stderr
    assert len(stored(tmp_path / "data")) == 2


# 7. a half-written keyword index

def damage(folder: Path, how: str) -> None:
    marker = folder / "paperqa_sync.json"
    if how == "bm25s files missing":
        for path in folder.iterdir():
            if path != marker:
                path.unlink()
    elif how == "marker truncated":
        marker.write_text(marker.read_text()[:40])
    elif how == "marker of another save":
        data = json.loads(marker.read_text())
        marker.write_text(json.dumps({**data, **{key: data[key][:1] for key in ("ids", "paper_ids", "years")}}))


@pytest.mark.parametrize("how", ["bm25s files missing", "marker truncated", "marker of another save"])
def test_half_written_keyword_index_is_rebuilt(data_dir, how):
    folder = data_dir / "store" / "bm25-papers"
    damage(folder, how)
    run = run_cli("search", "atom graphs", "--mode", "bm25", "--json", home=data_dir)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert f"keyword index at {folder} is damaged" in run.stderr
    assert json.loads(run.stdout)[0]["title"] == "Graph neural networks for molecules"
    again = run_cli("search", "atom graphs", "--mode", "bm25", "--json", home=data_dir)
    assert again.returncode == 0 and "damaged" not in again.stderr, again.stderr  # rebuilt and saved
    assert json.loads(again.stdout)[0]["title"] == "Graph neural networks for molecules"


@pytest.mark.parametrize("how", ["bm25s files missing", "marker truncated", "marker of another save"])
def test_keyword_index_load_returns_none_for_a_damaged_folder(data_dir, how, caplog):
    from paperqa_local.keyword import KeywordIndex

    folder = data_dir / "store" / "bm25-papers"
    assert KeywordIndex.load(folder) is not None
    damage(folder, how)
    with caplog.at_level(logging.WARNING, logger="paperqa_local.keyword"):
        assert KeywordIndex.load(folder) is None
    assert "is damaged" in caplog.text and "rebuilt from the store" in caplog.text


# 8. every problem printed once

def test_ingest_prints_each_problem_once(library, tmp_path):
    ingest = library[2]
    assert (ingest.stdout + ingest.stderr).count("missing 'abstract'") == 1, ingest.stderr
    assert "note: papers.jsonl:line 3: missing 'abstract'" in ingest.stderr.replace(str(library[1]), "papers.jsonl")
    as_json = run_cli("ingest", "--json", str(library[1]), home=tmp_path / "data")
    assert as_json.returncode == 0, as_json.stderr
    assert "missing 'abstract'" not in as_json.stderr
    assert [p.endswith("line 3: missing 'abstract'") for p in json.loads(as_json.stdout)["problems"]] == [True]


def test_missing_file_given_to_a_command_is_a_clean_error(tmp_path):
    run = run_cli("ask", "--questions", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "out.jsonl"),
                  home=tmp_path / "home")
    error_line(run, f"cannot use {tmp_path / 'missing.jsonl'}: No such file or directory", "check the path")


def test_ingest_of_nothing_readable_fails_and_says_why(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.md").write_text("# not a paper format")
    for given in (empty, folder):
        done = run_cli("ingest", str(given), home=tmp_path / "data")
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "nothing to add" in done.stderr and str(given.name) in done.stderr

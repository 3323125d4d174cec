"""torch (CUDA embeddings) and llama.cpp (CUDA offload) in one process, in both import orders, with real generation.

A CUDA build of llama-cpp-python and a CUDA torch carry CUDA libraries of their own; built without
`-Wl,--exclude-libs,ALL` (scripts/gpu_build.sh passes it) the process crashes, at load or at exit, depending
on which one is imported first. Each order therefore runs in a fresh interpreter (this file, run as a script),
which must exit cleanly after embedding on the GPU, generating on the GPU, and embedding again.

Skipped, with the reason, where there is no NVIDIA GPU, torch cannot use it, or llama-cpp-python was built
without GPU offload. The models are the ones the settings name (PAPERQA_LOCAL_MODEL,
PAPERQA_LOCAL_EMBEDDING_MODEL; by default the bundled ones).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "Deoxys recommends mitigation actions for unhealthy nodes in large-scale cloud infrastructure.",
    "Hydragen speeds up LLM inference over sequences that share a prefix.",
    "Sourdough bread rises because of wild yeast and lactic acid bacteria.",
]
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    return env


def _probe(code: str) -> tuple[bool, str]:
    """Run `code` in a fresh interpreter (never import torch and llama_cpp into the test process itself)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_child_env(), timeout=300)
    return done.returncode == 0 and done.stdout.strip().endswith("yes"), (done.stdout + done.stderr).strip()[-500:]


def _gpu_skip_reason() -> str | None:
    if not (glob.glob("/dev/nvidia[0-9]*") or os.environ.get("PAPERQA_LOCAL_FORCE_GPU_TESTS")):
        return "no NVIDIA GPU on this machine"
    ok, out = _probe("import torch; print('yes' if torch.cuda.is_available() else 'no')")
    if not ok:
        return f"torch cannot use the GPU (a CPU build of torch?): {out}"
    ok, out = _probe("import llama_cpp; print('yes' if llama_cpp.llama_supports_gpu_offload() else 'no')")
    if not ok:
        return f"llama-cpp-python has no GPU offload — rebuild it with scripts/gpu_build.sh ({out})"
    return None


@pytest.fixture(scope="module")
def gpu_ready():
    reason = _gpu_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("order", ["torch-first", "llama-first"])
def test_torch_and_llama_cuda_share_one_process(gpu_ready, order):
    done = subprocess.run([sys.executable, __file__, order], capture_output=True, text=True, env=_child_env(), timeout=600)
    assert done.returncode == 0, f"{order}: the process failed with exit code {done.returncode}\n{done.stderr[-3000:]}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"{order}: no result printed\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    print(json.dumps(result, indent=1))

    assert result["embed_device"] == "cuda"
    assert result["embedding_cosine_gpu_vs_cpu_min"] > 0.99  # fp16 on the GPU, fp32 on the CPU
    assert result["embedding_same_after_generation"]
    assert result["n_gpu_layers"] == -1
    # the weights went to the GPU: free GPU memory dropped by most of the model file's size
    assert result["gpu_memory_taken_by_llm_bytes"] > 0.6 * result["model_bytes"]
    assert result["completion_tokens"] >= 4 and result["text"].strip()
    # same model on the CPU: the GPU's first-token logits must agree, and its pick must rank high on the CPU
    assert result["logits_correlation_gpu_vs_cpu"] > 0.9
    assert result["gpu_top_token_rank_on_cpu"] < 10
    if result["real_weights"]:
        assert "paris" in result["text"].lower()


# ------------------------------------------------------------------------------------- the child process
def child(order: str) -> None:
    if order == "torch-first":
        import torch

        torch.zeros(1, device="cuda")  # initialise torch's CUDA context before llama.cpp loads
        import llama_cpp
    else:
        import llama_cpp

        llama_cpp.llama_backend_init()
        import torch
    import numpy as np

    from paperqa_local.config import load_settings
    from paperqa_local.embed import SentenceTransformerEmbedder, resolve_device
    from paperqa_local.llm import LlamaCppLLM, pick_gpu_layers
    from paperqa_local.models import BUNDLED, resolve

    settings = load_settings()
    result: dict = {"order": order, "torch": torch.__version__, "llama_cpp": llama_cpp.__version__,
                    "gpu": torch.cuda.get_device_name(0)}

    # torch on the GPU, through the project's embedder (resolve_device picks CUDA, fp16 there)
    assert resolve_device("auto") == "cuda"
    gpu_embedder = SentenceTransformerEmbedder(settings.embedding_model, "auto")
    cpu_embedder = SentenceTransformerEmbedder(settings.embedding_model, "cpu")
    result["embed_device"] = gpu_embedder.device
    on_gpu = gpu_embedder.embed(TEXTS)
    on_cpu = cpu_embedder.embed(TEXTS)
    result["embedding_cosine_gpu_vs_cpu_min"] = float(np.min(np.sum(on_gpu * on_cpu, axis=1)))

    # llama.cpp on the GPU, through the project's LLM class, all layers as the default setting asks
    path = resolve(settings.model, settings.models_dir)
    layers, _ = pick_gpu_layers(settings.n_gpu_layers)
    result.update(model=str(path), model_bytes=path.stat().st_size, n_gpu_layers=layers,
                  real_weights=path.name in {m.file for m in BUNDLED.values()})
    free_before = torch.cuda.mem_get_info()[0]
    llm = LlamaCppLLM(path, n_ctx=2048, n_threads=4, n_gpu_layers=layers)
    result["gpu_memory_taken_by_llm_bytes"] = free_before - torch.cuda.mem_get_info()[0]
    generation = llm.chat(QUESTION, max_tokens=24)
    result.update(text=generation.text, completion_tokens=generation.completion_tokens)

    # the same first step on the CPU: logits of the prompt's last token
    cpu_llm = LlamaCppLLM(path, n_ctx=2048, n_threads=4, n_gpu_layers=0)
    tokens = llm.model.tokenize(b"<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", special=True)
    logits = []
    for model in (llm.model, cpu_llm.model):
        model.reset()
        model.eval(tokens)
        logits.append(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(model._ctx.ctx, -1), shape=(model.n_vocab(),)).copy())
    gpu_logits, cpu_logits = logits
    result["logits_correlation_gpu_vs_cpu"] = float(np.corrcoef(gpu_logits, cpu_logits)[0, 1])
    result["gpu_top_token_rank_on_cpu"] = int(np.sum(cpu_logits > cpu_logits[int(gpu_logits.argmax())]))

    # torch again, after llama.cpp has used the GPU
    again = gpu_embedder.embed(TEXTS)
    result["embedding_same_after_generation"] = bool(np.allclose(again, on_gpu, atol=1e-3))
    print("RESULT " + json.dumps(result), flush=True)
    # and exit normally, unloading both (a crash here is the failure this test exists for)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    child(sys.argv[1])

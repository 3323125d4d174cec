"""Host probes: what this machine has (CPU, cores, GPUs), not what the user chose. Settings take their defaults
from here (`n_threads`), the LLM asks whether llama.cpp can offload, and benchmarks record `machine()`."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any


def physical_cores() -> int:
    """Physical cores: llama.cpp runs best with one thread per core, not per hyper-thread."""
    try:
        pairs = set()
        block: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines() + [""]:
            if not line.strip():
                if "core id" in block:
                    pairs.add((block.get("physical id"), block["core id"]))
                block = {}
                continue
            key, _, value = line.partition(":")
            block[key.strip()] = value.strip()
        cores = len(pairs)
    except OSError:
        cores = 0
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores or available, available))


def cpu_name() -> str:
    """The CPU's model name ("model name" in /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Where a run happened, recorded with benchmark figures: CPU model and cores, the GPU torch embeds on (only
    when the embedder has imported torch already: this never imports it) and whether llama.cpp offloads to a GPU."""
    info: dict[str, Any] = {"cpu": cpu_name(), "cores": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    info["llm_gpu_offload"] = gpu_offload_supported()
    return info


def gpu_offload_supported() -> bool:
    """Whether this llama-cpp-python build can put layers on a GPU (a CUDA build can, the CPU build cannot)."""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:  # noqa: BLE001 - any failure means: no GPU offload here
        return False

"""A full disk: the ingest that hits it stops with a clear error, and once space is freed the library is whole.

A real full disk: the data directory is a small tmpfs mounted in a private mount namespace (`unshare -m`, or
`unshare -rm` for a user without root), so nothing outside the test sees it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from ..conftest import ROOT

SCRIPT = """
set -u
mount -t tmpfs -o size=3m tmpfs "$HOME_DIR"
run() { "$PYTHON" -m paperqa_local "$@"; echo "rc=$?"; }
echo "== small"; run ingest "$SMALL"
echo "== big"; run ingest "$BIG"
echo "== stats while full"; run stats --json
mount -o remount,size=64m "$HOME_DIR"
echo "== stats after freeing space"; run stats --json
echo "== big again"; run ingest "$BIG"
echo "== stats at the end"; run stats --json
echo "== search"; run search "corals bleach when the sea warms"
"""


def namespace_command() -> list[str]:
    return ["unshare", "-m", "--propagation", "private"] if os.geteuid() == 0 else ["unshare", "-rm", "--propagation", "private"]


def sections(output: str) -> dict[str, str]:
    parts = output.split("== ")[1:]
    return {part.split("\n", 1)[0]: part.split("\n", 1)[1] for part in parts}


@pytest.mark.slow
def test_a_full_disk_stops_the_ingest_with_the_fix_and_loses_nothing(tmp_path):
    assert shutil.which("unshare"), "util-linux's unshare is needed (apt install util-linux)"
    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps({"id": f"s{i}", "title": f"Small paper {i} on corals",
                                         "abstract": "Corals bleach when the sea warms. " * 5}) + "\n" for i in range(20)))
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"id": f"b{i}", "title": f"Big paper {i} about sponges",
                                       "abstract": f"Sponges filter water in reef ecosystems at site {i}. " * 20}) + "\n"
                           for i in range(400)))
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME_DIR": str(home), "PAPERQA_LOCAL_HOME": str(home), "HF_HUB_OFFLINE": "1",
           "PYTHON": sys.executable, "SMALL": str(small), "BIG": str(big)}
    done = subprocess.run([*namespace_command(), "sh", "-c", SCRIPT], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=1200)
    steps = sections(done.stdout)
    assert "rc=0" in steps["small"], done.stdout[-3000:]

    big_run = steps["big"]
    assert "rc=0" not in big_run and "Traceback" not in big_run, big_run[-3000:]
    assert "is full — free some space and run the same command again" in big_run

    assert "rc=0" in steps["stats after freeing space"]
    assert json.loads(steps["stats after freeing space"].split("rc=")[0])["papers"] >= 20  # the small papers kept
    assert "rc=0" in steps["big again"], steps["big again"][-3000:]
    final = json.loads(steps["stats at the end"].split("rc=")[0])
    assert (final["papers"], final["chunks"]) == (420, 420), final  # every paper whole, none twice
    assert "Small paper" in steps["search"]

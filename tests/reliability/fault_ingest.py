"""Run one ingest in this process and kill it (SIGKILL, no clean-up) at the n-th time it reaches a fault point.

    python -m tests.reliability.fault_ingest DATA_DIR INPUT POINT N [hash]

POINT is one of `paperqa_local.ingest.Faults`' points; `hash` uses the tests' hashing embedder instead of MiniLM.
"""

import os
import signal
import sys

from paperqa_local import PaperQA
from paperqa_local.ingest import Faults


def main(data_dir: str, path: str, point: str, n: str, embedder: str = "real") -> None:
    seen = 0

    def kill_at(reached: str) -> None:
        nonlocal seen
        if reached == point:
            seen += 1
            if seen == int(n):
                os.kill(os.getpid(), signal.SIGKILL)

    Faults.hook = kill_at
    if embedder == "hash":
        from tests.conftest import HashEmbedder

        qa = PaperQA(data_dir=data_dir, embedder=HashEmbedder(), embedding_model="hash-test")
    else:
        qa = PaperQA(data_dir=data_dir)
    qa.ingest([path])
    print("finished without reaching the fault point", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])

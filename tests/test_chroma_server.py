"""The same ingest and search against a real Chroma server started by the test (scaling out)."""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from paperqa_local import PaperQA

from .conftest import SEEDS, HashEmbedder


@pytest.fixture
def chroma_server(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    chroma = Path(sys.executable).with_name("chroma")
    server = subprocess.Popen([str(chroma), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("chroma server did not start")
            time.sleep(0.3)
    yield port
    server.terminate()
    server.wait(timeout=30)


def test_ingest_and_search_through_a_chroma_server(tmp_path, chroma_server):
    qa = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test",
                 chroma_host="127.0.0.1", chroma_port=chroma_server)
    report = qa.ingest([SEEDS / "000_8b0c47536576a6c6.txt"])
    assert report.new_papers == 39
    assert qa.stats()["store"] == f"chroma://127.0.0.1:{chroma_server}"
    again = PaperQA(data_dir=tmp_path / "d", embedder=HashEmbedder(), embedding_model="hash-test",
                    chroma_host="127.0.0.1", chroma_port=chroma_server)
    assert again.ingest([SEEDS / "000_8b0c47536576a6c6.txt"]).chunks_embedded == 0
    assert again.search("Deoxys unhealthy node mitigation cloud", k=1)[0].title.startswith("Deoxys")

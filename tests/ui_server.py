"""The real app for the UI tests: `python app.py --model fast` over a copy of the session's seeds index
(conftest's `seeds_dir`), on a free port. Each test module starts its own copy, so modules never see each
other's uploads."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SEEDS_QUESTION = "Which system recommends mitigation actions for unhealthy nodes in cloud infrastructure?"
START_TIMEOUT = 300  # seconds: loading the embedder and the 0.5B model on a busy 2-core machine


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.update(GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """`python app.py` as a user starts it; `url` once it answers and its models are loaded."""

    def __init__(self, data_dir: Path, log_path: Path, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(self.port), "--data-dir", str(data_dir),
             "--model", "fast", *extra],
            cwd=ROOT, env=environment(), stdout=self._log, stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self) -> "AppServer":
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"app.py exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            if "could not load the models" in self.log():
                pytest.fail(f"app.py could not load its models:\n{self.log()[-4000:]}")
            if "models loaded" in self.log():
                try:
                    with urllib.request.urlopen(self.url, timeout=5) as response:
                        if response.status == 200:
                            return self
                except OSError:
                    pass
            time.sleep(0.5)
        pytest.fail(f"app.py did not load its models within {START_TIMEOUT} s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def start_app(seeds_dir: Path, tmp_path_factory, name: str) -> AppServer:
    """Start the app over a fresh copy of the seeds index; the caller stops it."""
    home = tmp_path_factory.mktemp(name)
    shutil.copytree(seeds_dir, home / "data")
    return AppServer(home / "data", home / "app.log").wait()


def launch_chromium(playwright):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing — install Debian's chromium: apt-get install -y chromium chromium-driver")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

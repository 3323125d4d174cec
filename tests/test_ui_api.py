"""The app's named API through gradio_client, one-at-a-time asking, and the serving rules (--host / --auth)."""

import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from gradio_client import Client
from gradio_client.utils import Status

from .conftest import DEOXYS, ROOT
from .ui_server import SEEDS_QUESTION, environment, free_port, start_app


@pytest.fixture(scope="module")
def app(seeds_dir, tmp_path_factory):
    server = start_app(seeds_dir, tmp_path_factory, "ui-api")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


@pytest.mark.slow
def test_ask_endpoint_answers_with_citations(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/ask", "/check", "/search"}  # the UI's own events are private

    answer = client.predict(SEEDS_QUESTION, api_name="/ask")

    assert answer["answerable"] is True
    assert [c["title"] for c in answer["citations"]] == [DEOXYS]
    assert answer["citations"][0]["sentences"]
    assert "[1]" in answer["text"]
    assert f"[1] {DEOXYS} (2024)" in answer["markdown"]
    assert any(hit["title"] == DEOXYS for hit in answer["contexts"])


@pytest.mark.slow
def test_check_endpoint_gives_a_verdict_resting_on_the_paper(client):
    result = client.predict("Deoxys recommends mitigation actions for unhealthy nodes in cloud infrastructure", api_name="/check")
    assert result["verdict"] in {"SUPPORTS", "CONTRADICTS", "NOT ENOUGH INFO"}
    assert result["verdict"] != "NOT ENOUGH INFO"  # the seeds hold the Deoxys abstract, which says so
    assert DEOXYS in [c["title"] for c in result["citations"]]
    assert set(result["label_scores"]) == {"SUPPORTS", "CONTRADICTS", "NOT ENOUGH INFO"}


@pytest.mark.slow
def test_search_endpoint_uses_the_hybrid_search(client):
    hits = client.predict("causal inference engine for unhealthy cloud nodes", 3, api_name="/search")
    assert len(hits) == 3
    assert hits[0]["title"] == DEOXYS


@pytest.mark.slow
def test_questions_wait_in_a_queue_one_at_a_time(client):
    """Two questions at once: the second waits in the queue, with its position, while the first runs."""
    jobs = [client.submit(SEEDS_QUESTION, api_name="/ask"), client.submit(SEEDS_QUESTION, 4, api_name="/ask")]
    both_running = waiting = 0
    while not all(job.done() for job in jobs):
        statuses = [job.status() for job in jobs]  # read one after the other: a hand-over may look like overlap
        codes = [status.code for status in statuses]
        if codes == [Status.PROCESSING, Status.PROCESSING]:
            both_running += 1
        elif Status.PROCESSING in codes and any(s.code == Status.IN_QUEUE and s.rank is not None for s in statuses):
            waiting += 1
        time.sleep(0.02)
    answers = [job.result() for job in jobs]

    assert all(a["answerable"] and a["citations"][0]["title"] == DEOXYS for a in answers)
    assert both_running <= 2, f"two questions ran at once ({both_running} polls), not only at the hand-over"
    assert waiting >= 3, "no question was seen waiting, with its queue position, while the other ran"


def run_app(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], cwd=ROOT, env=environment(),
                          capture_output=True, text=True, timeout=timeout)


def test_public_host_without_a_password_is_refused_before_anything_loads(tmp_path):
    result = run_app("--host", "0.0.0.0", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 without a password" in result.stderr
    assert "--auth user:password" in result.stderr and "--auth-file" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before an index was opened


def test_bad_credentials_are_refused_with_the_fix(tmp_path):
    result = run_app("--host", "0.0.0.0", "--auth", "alice")
    assert result.returncode == 2 and "expected user:password" in result.stderr

    missing = tmp_path / "nope.txt"
    result = run_app("--host", "0.0.0.0", "--auth-file", str(missing))
    assert result.returncode == 2 and f"cannot read auth file {missing}" in result.stderr

    empty = tmp_path / "users.txt"
    empty.write_text("# nobody yet\n")
    result = run_app("--host", "0.0.0.0", "--auth-file", str(empty))
    assert result.returncode == 2 and "holds no user:password line" in result.stderr


def test_with_auth_the_app_asks_for_a_login(tmp_path):
    from paperqa_local import PaperQA
    from paperqa_local.ui import launch

    port = free_port()
    app = launch(PaperQA(data_dir=tmp_path / "data"), host="127.0.0.1", port=port, auth="alice:s3cret", block=False)
    try:
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/config", timeout=10)
        assert refused.value.code == 401
        assert Client(url, auth=("alice", "s3cret"), verbose=False).view_api(print_info=False, return_format="dict")
        with pytest.raises(Exception, match="(?i)login|credentials|401|auth"):
            Client(url, auth=("alice", "wrong"), verbose=False)
    finally:
        app.close()

"""Many askers at once — threads through one or several `PaperQA` objects, several browser sessions of the
served app — are all answered, each with its own answer, with the real 0.5B model and the real seeds index."""

from __future__ import annotations

import threading

import pytest
from gradio_client import Client

from paperqa_local import PaperQA

from ..conftest import DEOXYS
from ..ui_server import start_app

# question -> the start of the title of the paper its answer must cite (each ranked first by hybrid search)
QUESTIONS = {
    "Which system picks mitigation actions for unhealthy cloud nodes?": DEOXYS,
    "Which method keeps only heavy-hitter tokens in the KV cache?": "H2O",
    "Which attention method groups the keys of a fixed prompt with K-means centroids?": "Squeezed Attention",
    "What speeds up attention in the decode phase for very long contexts, beyond FlashAttention-2?": "Lean Attention",
}


def run_all(jobs) -> tuple[dict, list]:
    results, errors = {}, []

    def run(name, job):
        try:
            results[name] = job()
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append((name, repr(exc)))

    threads = [threading.Thread(target=run, args=item) for item in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    assert not any(thread.is_alive() for thread in threads), "an asker never got an answer"
    return results, errors


def cites(citations, title_start: str) -> bool:
    return any((c["title"] if isinstance(c, dict) else c.title).lower().startswith(title_start.lower()) for c in citations)


@pytest.mark.slow
def test_threads_through_several_fresh_paperqa_objects_are_all_answered_unmixed(seeds_dir):
    # fresh objects: their stores and the model are opened by the first questions, all at once
    facades = [PaperQA(data_dir=seeds_dir, model="fast") for _ in range(3)]
    jobs = [(question, lambda q=question, qa=facades[i % 3]: qa.ask(q)) for i, question in enumerate(QUESTIONS)]
    jobs += [("check", lambda: facades[0].check("Deoxys recommends mitigation actions for unhealthy cloud nodes.",
                                               explain=False)),
             ("search", lambda: facades[1].search("heavy-hitter tokens KV cache eviction", k=3))]
    results, errors = run_all(jobs)
    assert not errors, errors
    assert len({id(qa.llm) for qa in facades}) == 1  # one model in memory, one lock
    for question, title in QUESTIONS.items():
        answer = results[question]
        assert answer.question == question and answer.answerable, (question, answer.text)
        assert cites(answer.citations, title), (question, answer.text)
    assert cites(results["check"].citations, DEOXYS)
    assert results["search"][0].title.startswith("H2O")


@pytest.fixture(scope="module")
def app(seeds_dir, tmp_path_factory):
    server = start_app(seeds_dir, tmp_path_factory, "ui-concurrency")
    yield server
    server.stop()


@pytest.mark.slow
def test_browser_sessions_asking_at_once_each_get_their_own_answer(app):
    clients = {question: Client(app.url, verbose=False) for question in QUESTIONS}  # one session each
    jobs = [(question, lambda q=question: clients[q].predict(q, api_name="/ask")) for question in QUESTIONS]
    results, errors = run_all(jobs)
    assert not errors, errors
    for question, title in QUESTIONS.items():
        assert results[question]["answerable"] and cites(results[question]["citations"], title), results[question]["text"]

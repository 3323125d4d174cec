"""The model's lock hands itself on in the order it was asked for: many threads asking one model are answered
first come, first served, and a thread that asks again at once goes to the back of the line."""

from __future__ import annotations

import threading
import time

import pytest

from paperqa_local.llm_base import QueueLock


def wait_until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_waiters_get_the_lock_in_the_order_they_asked_and_a_returning_holder_queues_behind_them():
    lock, order = QueueLock(), []

    def ask(n: int, again: bool = False) -> None:
        with lock:
            order.append(n)
        if again:  # straight back for more, as a client whose next question is ready
            with lock:
                order.append(f"{n} again")

    lock.acquire()
    threads = []
    for n in range(5):
        threads.append(threading.Thread(target=ask, args=(n, n == 0)))
        threads[-1].start()
        wait_until(lambda: len(lock._waiting) == n + 1)  # each in line before the next arrives
    lock.release()
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4, "0 again"]


def test_it_is_reentrant_and_only_its_holder_may_release():
    lock = QueueLock()
    with lock, lock:  # the answer holds it while the claim check inside takes it again
        pass
    errors = []
    lock.acquire()
    thread = threading.Thread(target=lambda: errors.append(pytest.raises(RuntimeError, lock.release)))
    thread.start()
    thread.join(10)
    assert errors and "does not hold" in str(errors[0].value)
    lock.release()
    assert lock.acquire() and lock._owner == threading.get_ident()
    lock.release()

"""The grading pool: a worker that crashes or hangs costs its own job a retry, then a Failure;
every other job comes back exactly once, as if the bad one were not in the batch."""

from __future__ import annotations

import ctypes
import os
import time

from autograder.batch.pool import Failure, Pool


def _job(payload):
    """Stands for grading one student: some crash the process, some hang."""
    kind, value = payload
    if kind == "segfault":
        ctypes.string_at(0)  # reads address 0: the worker dies of SIGSEGV
    if kind == "exit":
        os._exit(3)
    if kind == "hang":
        time.sleep(3600)
    if kind == "raise":
        raise RuntimeError("the grader's own bug")
    return value * 2


def _run(payloads, seconds=20.0, workers=2):
    pool = Pool(workers, _job, seconds=lambda payload: seconds, attempts=2)
    return list(pool.run(payloads))


def test_every_job_comes_back_once_whatever_its_neighbours_do():
    payloads = [("ok", 1), ("segfault", 0), ("ok", 2), ("exit", 0), ("ok", 3), ("raise", 0)]
    results = _run(payloads)
    assert sorted(index for index, _ in results) == list(range(len(payloads)))
    by_index = dict(results)
    assert [by_index[i] for i in (0, 2, 4)] == [2, 4, 6]
    for index, words in ((1, "SIGSEGV"), (3, "exit code 3"), (5, "the grader's own bug")):
        assert isinstance(by_index[index], Failure), by_index[index]
        assert words in by_index[index].reason


def test_a_hung_worker_is_stopped_at_its_allowance_and_the_rest_goes_on():
    started = time.monotonic()
    results = dict(_run([("hang", 0), ("ok", 5), ("ok", 6)], seconds=2.0))
    assert results[1] == 10 and results[2] == 12
    assert isinstance(results[0], Failure) and "ran past" in results[0].reason
    assert time.monotonic() - started < 60  # two attempts of 2 s each, not an hour


def test_a_grading_process_has_a_memory_limit():
    """What a submission's results make the checks allocate cannot take the machine: past the
    limit an allocation fails in that student's own grading."""
    import functools

    from autograder.batch.grade import init_grading_process

    pool = Pool(
        1,
        _allocate,
        initializer=functools.partial(init_grading_process, 2 * 1024**3),
        seconds=lambda payload: 60.0,
    )
    results = dict(pool.run([8 * 1024**3, 1024]))
    assert isinstance(results[0], Failure) and "MemoryError" in results[0].reason
    assert results[1] == 1024


def _allocate(size):
    return len(bytearray(size))

"""How often monitoring polls: once a second while many tasks are left, five times a
second as a run of short tasks nears its end, so that apply notices the last task's
end within a fifth of a second rather than up to a whole second later."""

from __future__ import annotations

from runner.monitor import FINAL_POLL_SECONDS, POLL_SECONDS, completion_rate, poll_seconds
from runner.state import TaskCounts


def counts(active: int, running: int, completed: int) -> TaskCounts:
    return TaskCounts(active, running, completed, completed, 0)


def test_many_short_tasks_left_poll_once_a_second() -> None:
    assert poll_seconds(counts(300, 2, 98), 0.05, 20.0) == POLL_SECONDS


def test_the_last_short_tasks_are_polled_five_times_a_second_before_the_queue_empties() -> None:
    # 2 slots finishing 20 tasks a second: the 30 left end within 1.5 s, and the moment
    # when nothing waits any more lasts one task (50 ms): a 1 s poll would miss it
    assert poll_seconds(counts(28, 2, 370), 0.05, 20.0) == FINAL_POLL_SECONDS
    assert poll_seconds(counts(0, 1, 399), 0.05, 20.0) == FINAL_POLL_SECONDS


def test_long_tasks_and_a_run_not_yet_paced_poll_once_a_second() -> None:
    assert poll_seconds(counts(3, 2, 395), 60.0, 20.0) == POLL_SECONDS
    assert poll_seconds(counts(3, 2, 0), None, 0.0) == POLL_SECONDS
    assert poll_seconds(counts(3, 2, 10), 0.05, 0.0) == POLL_SECONDS  # nothing ended lately
    assert poll_seconds(counts(0, 0, 400), 0.05, 20.0) == POLL_SECONDS  # over: no hurry


def test_the_rate_counts_only_what_monitoring_saw_complete() -> None:
    """Tasks that had completed before the first poll (a resumed apply, or short tasks
    done before monitoring began) are not a rate: the quick start showed 1497.1/s."""
    assert completion_rate(first=(100.0, 4), now=100.003, completed=4) is None
    assert completion_rate(first=(100.0, 4), now=100.5, completed=6) is None  # too soon
    assert completion_rate(first=(100.0, 4), now=102.0, completed=10) == 3.0
    assert completion_rate(first=(100.0, 900), now=110.0, completed=900) == 0.0

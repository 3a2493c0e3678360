"""A task's attempts from the run record's snapshots: what Batch says of the latest
attempt at each listing, folded into one execution per attempt, also when listings
missed a state or a whole attempt."""

from __future__ import annotations

from runner.attempts import FAILED, PREEMPTED, SUCCEEDED, Attempt, Attempts, TaskAttempts
from runner.record_events import TaskRecord


def t(second: float) -> str:
    """A service time `second` seconds after 12:00 (Batch writes microseconds, or none)."""
    whole, fraction = divmod(round(second * 1_000_000), 1_000_000)
    stamp = f"2025-01-01T12:{whole // 60:02d}:{whole % 60:02d}"
    return stamp + (f".{fraction:06d}Z" if fraction else "Z")


def snap(state: str, retries: int = 0, **kw: object) -> TaskRecord:
    return TaskRecord(id="a", step="tasks", state=state, retries=retries, queued=t(0), **kw)  # type: ignore[arg-type]


def fold(*snaps: TaskRecord) -> tuple[list[Attempt], list[tuple[str, int, bool]]]:
    task = TaskAttempts()
    changes = [c for s in snaps for c in task.update(s)]
    return task.attempts, [(c.what, c.attempt.number, c.will_retry) for c in changes]


def test_a_task_seen_running_then_done_is_one_attempt() -> None:
    attempts, changes = fold(
        snap("active"),
        snap("running", node="n1", started=t(1)),
        snap("succeeded", node="n1", started=t(1), ended=t(3), exit_code=0),
    )
    assert changes == [("started", 0, False), ("ended", 0, False)]
    (a,) = attempts
    assert (a.state, a.node, a.started, a.ended, a.exit_code, a.seen) == (
        SUCCEEDED,
        "n1",
        t(1),
        t(3),
        0,
        True,
    )


def test_a_task_seen_only_done_still_starts_and_ends() -> None:
    attempts, changes = fold(snap("succeeded", node="n1", started=t(1), ended=t(2), exit_code=0))
    assert changes == [("started", 0, False), ("ended", 0, False)]
    assert attempts[0].started == t(1) and attempts[0].queued == t(0)


def test_a_retry_seen_waiting_keeps_the_failed_attempt_whole() -> None:
    """While the retry waits, Batch still describes the attempt that failed."""
    failure = "FailureExitCode: The task exited with code 3"
    attempts, changes = fold(
        snap("running", node="n1", started=t(1)),
        snap("active", 1, node="n1", started=t(1), ended=t(2), exit_code=3, failure=failure),
        snap("running", 1, node="n2", started=t(2.5), exit_code=3, failure=failure),
        snap("failed", 1, node="n2", started=t(2.5), ended=t(4), exit_code=4, failure="x"),
    )
    assert changes == [
        ("started", 0, False),
        ("ended", 0, True),
        ("started", 1, False),
        ("ended", 1, False),
    ]
    first, second = attempts
    assert (first.state, first.node, first.ended, first.exit_code, first.failure) == (
        FAILED,
        "n1",
        t(2),
        3,
        failure,
    )
    assert (second.node, second.queued, second.started, second.exit_code) == ("n2", t(2), t(2.5), 4)


def test_a_retry_seen_only_running_bounds_the_end_before_it() -> None:
    """The failed attempt ended at the latest at the retry (last_retry) and at the next start."""
    attempts, _ = fold(
        snap("running", node="n1", started=t(1)),
        snap("running", 1, node="n1", started=t(2.5), exit_code=3, last_retry=t(2.25)),
    )
    assert (attempts[0].ended, attempts[0].exit_code, attempts[0].state) == (t(2.25), 3, FAILED)
    attempts, _ = fold(
        snap("running", node="n1", started=t(1)),
        snap(
            "running", 1, node="n1", started=t(2.5), last_retry=t(2.75)
        ),  # Azure: the retry's start
    )
    assert attempts[0].ended == t(2.5)


def test_an_attempt_never_seen_is_counted_from_the_retry_count() -> None:
    attempts, changes = fold(
        snap("running", node="n1", started=t(1)),
        snap("failed", 2, node="n2", started=t(5), ended=t(6), exit_code=3),
    )
    assert [(a.number, a.state, a.seen) for a in attempts] == [
        (0, FAILED, True),
        (1, FAILED, False),
        (2, FAILED, True),
    ]
    assert attempts[1].node is None and attempts[1].started is None
    assert changes[-2:] == [("started", 2, False), ("ended", 2, False)]


def test_a_first_attempt_that_came_and_went_unseen() -> None:
    attempts, _ = fold(snap("running", 1, node="n2", started=t(3), exit_code=3, last_retry=t(2)))
    first = attempts[0]
    assert (first.seen, first.started, first.ended, first.exit_code) == (False, None, t(2), 3)
    assert attempts[1].queued == t(2)


def test_a_requeue_ends_the_attempt_as_preempted() -> None:
    """The local service counts a requeue as a retry too; Azure counts it apart."""
    for retries in (1, 0):
        attempts, changes = fold(
            snap("running", node="n1", started=t(1)),
            snap("active", retries, requeues=1, started=t(1), last_requeue=t(2)),
            snap(
                "succeeded", retries, requeues=1, node="n2", started=t(3), ended=t(4), exit_code=0
            ),
        )
        assert [(a.state, a.requeued, a.node) for a in attempts] == [
            (PREEMPTED, False, "n1"),
            (SUCCEEDED, True, "n2"),
        ]
        assert attempts[0].ended == t(2) and attempts[1].queued == t(2)
        assert ("ended", 0, True) in changes


def test_blocked_is_said_once() -> None:
    attempts, changes = fold(
        snap("active"), snap("blocked", blocked_by="b"), snap("blocked", blocked_by="b")
    )
    assert changes == [("blocked", 0, False)]
    assert attempts[0].blocked_by == "b"


def test_times_with_and_without_fractions_compare_as_times() -> None:
    """12:00:02Z is after 12:00:01.5Z, although it sorts before it as text."""
    attempts, _ = fold(
        snap("running", node="n1", started=t(1.5)),
        snap("running", 1, node="n1", started=t(3), last_retry=t(2)),
    )
    assert t(2) == "2025-01-01T12:00:02Z" and attempts[0].ended == t(2)


def test_attempts_of_all_tasks_in_first_seen_order() -> None:
    tasks = Attempts()
    tasks.update(TaskRecord("b", "tasks", "succeeded", 0, "n", t(0), t(1), t(2)))
    tasks.update(TaskRecord("a", "merge", "blocked", blocked_by="b"))
    assert [(a.task_id, a.step, a.state) for a in tasks.all()] == [
        ("b", "tasks", SUCCEEDED),
        ("a", "merge", "blocked"),
    ]

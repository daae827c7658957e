"""When a process group starts a child again, and when it gives up (mailroom exits 1)."""

from __future__ import annotations

from orchestrator.restart_policy import (
    EXIT_WINDOW_SECONDS,
    MAX_EXITS,
    MAX_UNREADY_PAUSE_SECONDS,
    Ending,
    RestartPolicy,
)


def test_a_child_failing_at_start_up_is_retried_for_ever_with_a_capped_pause() -> None:
    # PostgreSQL or Temporal restarting: the child exits before it is ready, again and again.
    policy = RestartPolicy()
    pauses = [policy.pause_after(Ending.UNREADY, now=float(n)) for n in range(2000)]
    assert None not in pauses, "start-up failures alone never give up"
    assert pauses[:3] == [0.5, 1.0, 2.0]
    assert max(p for p in pauses if p is not None) == MAX_UNREADY_PAUSE_SECONDS == 60.0


def test_a_child_crashing_after_ready_five_times_in_a_minute_gives_up() -> None:
    policy = RestartPolicy()
    pauses = [policy.pause_after(Ending.CRASHED, now=10.0 * n) for n in range(MAX_EXITS)]
    assert pauses == [0.5, 1.0, 2.0, 4.0, None]


def test_crashes_spread_over_more_than_the_window_are_restarted_each_time() -> None:
    policy = RestartPolicy()
    every = EXIT_WINDOW_SECONDS / (MAX_EXITS - 1)  # at most MAX_EXITS - 1 in any window
    assert all(policy.pause_after(Ending.CRASHED, now=every * n) for n in range(50))


def test_a_child_that_cannot_be_started_counts_toward_the_crash_loop_limit() -> None:
    policy = RestartPolicy()
    pauses = [policy.pause_after(Ending.UNSTARTED, now=1.0 * n) for n in range(MAX_EXITS)]
    assert pauses[-1] is None and None not in pauses[:-1]


def test_start_up_failures_between_crashes_neither_count_nor_reset_the_crashes() -> None:
    policy = RestartPolicy()
    for n in range(MAX_EXITS - 1):
        assert policy.pause_after(Ending.CRASHED, now=float(n)) is not None
        assert policy.pause_after(Ending.UNREADY, now=n + 0.5) is not None
    assert policy.pause_after(Ending.CRASHED, now=float(MAX_EXITS)) is None

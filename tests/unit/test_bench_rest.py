"""bench.rest: when the stack came to rest after a pass, from its CPU second by second."""

from __future__ import annotations

from bench.rest import rest_began


def test_a_quiet_second_is_rest_at_once() -> None:
    assert rest_began([1.8, 0.9, 0.05]) == 2


def test_work_still_falling_is_not_rest() -> None:
    assert rest_began([1.8, 1.2]) is None
    assert rest_began([0.45, 0.35, 0.25]) is None  # a flow's work winding down
    assert rest_began([0.30, 0.28, 0.26]) is None  # slowly, but still falling


def test_a_low_plateau_is_rest_from_its_first_second() -> None:
    # a server that idles at a quarter of a core after a run: rest began where it levelled
    assert rest_began([1.9, 0.6, 0.24, 0.26, 0.23]) == 2


def test_a_backlog_draining_at_a_steady_rate_is_not_rest() -> None:
    assert rest_began([1.0, 1.01, 0.99, 1.0]) is None
    assert rest_began([]) is None

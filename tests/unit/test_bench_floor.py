"""bench.ingest's worker floor: the bare worker's CPU a mail at mailroom's local activities a
mail, from the appending and the answering baselines of the same run."""

from __future__ import annotations

import pytest

from bench.cpu_floors import floor_at


def test_each_local_activity_adds_what_it_cost_the_answering_baseline() -> None:
    # appending 2.5 ms; answering 5.0 ms at 0.8 local activities a mail: 3.125 ms each
    assert floor_at(2.5, 5.0, 0.8, 0.5) == pytest.approx(2.5 + 0.5 * 3.125)
    assert floor_at(2.5, 5.0, 0.8, 0.8) == pytest.approx(5.0)
    assert floor_at(2.5, 5.0, 0.8, 0.0) == pytest.approx(2.5)


def test_a_difference_lost_in_noise_or_no_local_activity_adds_nothing() -> None:
    assert floor_at(2.5, 2.4, 0.8, 0.5) == pytest.approx(2.5)  # answering came out cheaper
    assert floor_at(2.5, 5.0, 0.0, 0.5) == pytest.approx(2.5)  # the baseline never answered

"""Which coordinator grants a lane when lanes are spread over several
(MAILROOM_COORDINATOR_SHARDS)."""

from __future__ import annotations

from collections import Counter

from use_cases.coordinator_shards import coordinator_for_lane, shard_ids, shard_of


def test_one_shard_keeps_the_unsharded_coordinator_id() -> None:
    assert shard_ids("q-mailroom-coordinator", 1) == ["q-mailroom-coordinator"]
    assert coordinator_for_lane("q-mailroom-coordinator", "budget:cc-1", 1) == (
        "q-mailroom-coordinator"
    )


def test_a_lane_is_always_granted_by_the_same_shard_in_every_process() -> None:
    # CRC-32, not hash(): the same in a daemon, a worker and the CLI
    assert shard_of("imap:support", 4) == 0
    assert coordinator_for_lane("mailroom-coordinator", "imap:support", 4) == (
        "mailroom-coordinator-0"
    )


def test_many_lanes_spread_over_every_shard() -> None:
    spread = Counter(shard_of(f"budget:cc-{n}", 4) for n in range(1000))
    assert set(spread) == {0, 1, 2, 3}
    assert all(150 <= count <= 350 for count in spread.values()), spread

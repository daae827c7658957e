"""Lanes spread over several coordinators (MAILROOM_COORDINATOR_SHARDS): a lane's coordinator
is chosen by its name alone, so every process, daemon or workflow item agrees on it without
asking anyone. One shard keeps the unsharded id, so an installation that never shards is
unchanged."""

from __future__ import annotations

import zlib


def shard_of(lane: str, shards: int) -> int:
    """The shard (0 … shards-1) that owns `lane`: CRC-32 of its name, stable across
    processes and Python versions (unlike hash(), salted per process)."""
    return zlib.crc32(lane.encode()) % shards


def shard_ids(coordinator_id: str, shards: int) -> list[str]:
    """Every shard's workflow id: the coordinator's own id for one shard, else
    `<id>-0` … `<id>-<shards-1>`."""
    if shards == 1:
        return [coordinator_id]
    return [f"{coordinator_id}-{k}" for k in range(shards)]


def coordinator_for_lane(coordinator_id: str, lane: str, shards: int) -> str:
    """The workflow id of the coordinator that grants `lane`."""
    return shard_ids(coordinator_id, shards)[shard_of(lane, shards)]

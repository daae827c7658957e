"""A supervised child's stdout is always drained, whatever it prints: a line the parent
could not read would leave the child blocked on a full pipe."""

from __future__ import annotations

import asyncio
import sys

from orchestrator.process_output import MAX_LINE_BYTES, output_lines

PRINTS = """
import sys
sys.stdout.write("x" * 100_000 + "\\n")
sys.stdout.write("y" * (2 * {max} + 10) + "\\n")
print("after", flush=True)
"""


async def test_a_child_printing_a_100_kb_line_is_read_to_its_end_and_never_blocks() -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PRINTS.format(max=MAX_LINE_BYTES),
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    lines = [line async for line in output_lines(child.stdout)]
    assert await asyncio.wait_for(child.wait(), 30) == 0
    assert lines[0] == "x" * 100_000, "a long line comes whole"
    assert "".join(lines[1:-1]) == "y" * (2 * MAX_LINE_BYTES + 10), "a huge one in pieces"
    assert lines[-1] == "after"

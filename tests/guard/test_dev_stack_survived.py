"""The last test of `make test`: the dev stack of `make deploy` (or the sentinel standing in for it, see
scripts/dev_stack_guard.py) came through every test unchanged: same containers, still running since the same
start, same volume and network, nothing created under a dev name, the sentinel's marker still in its volume."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import dev_stack_guard


def test_the_dev_stack_is_intact_after_the_tests():
    assert dev_stack_guard.problems() == []

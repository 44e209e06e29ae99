"""An ansible-playbook run as the integration tests read it: exit code, output, PLAY RECAP counts.

pytest puts this folder on sys.path for the tests in it (no __init__.py, default import mode).
"""

from __future__ import annotations

import dataclasses
import re


def recap(output: str, host: str = "localhost") -> dict[str, int]:
    """The counts of the last PLAY RECAP line of ``host`` in ``output``."""
    pattern = re.compile(
        rf"^{re.escape(host)}\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE
    )
    found = pattern.findall(output)
    assert found, f"no PLAY RECAP for {host} in the output:\n{output[-3000:]}"
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, found[-1]), strict=True))


@dataclasses.dataclass
class Run:
    rc: int
    output: str
    host: str = "localhost"

    @property
    def changed(self) -> int:
        return recap(self.output, self.host)["changed"]

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported changed (for assertion messages)."""
        names, current = [], None
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                current = line
            elif line.startswith("changed:") and current:
                names.append(current)
        return names

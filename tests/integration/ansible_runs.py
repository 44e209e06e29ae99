"""An ansible-playbook run as the integration tests read it: exit code, output, PLAY RECAP counts.

pytest puts this folder on sys.path for the tests in it (no __init__.py, default import mode).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


_RECAP_LINE = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
_RECAP_KEYS = ("ok", "changed", "unreachable", "failed")


def recaps(output: str) -> dict[str, dict[str, int]]:
    """The counts of the last PLAY RECAP line of every host in ``output``: {host: {"ok": n, "changed": n, ...}}.

    A run that printed no PLAY RECAP at all (a syntax error, a crash, a missing playbook) has no counts:
    that is an assertion error here, never a run of zeros.
    """
    found = {
        host: dict(zip(_RECAP_KEYS, map(int, counts), strict=True)) for host, *counts in _RECAP_LINE.findall(output)
    }
    assert found, f"no PLAY RECAP in the output:\n{output[-3000:]}"
    return found


def recap(output: str, host: str = "localhost") -> dict[str, int]:
    """The counts of the last PLAY RECAP line of ``host`` in ``output``."""
    found = recaps(output).get(host)
    assert found, f"no PLAY RECAP for {host} in the output:\n{output[-3000:]}"
    return found


def succeeded(returncode: int, output: str, hosts: tuple[str, ...] | None = None) -> dict[str, dict[str, int]]:
    """The recaps of a run that succeeded: exit code 0, and no host failed or unreachable (of ``hosts``, all
    of which must have a recap, or of every host in the recap). A run that fails its write also reports
    changed=0; every "nothing changed" check goes through here first."""
    counts = recaps(output)
    if hosts is not None:
        missing = [host for host in hosts if host not in counts]
        assert not missing, f"no PLAY RECAP for {missing} in the output:\n{output[-3000:]}"
        counts = {host: counts[host] for host in hosts}
    bad = {host: c for host, c in counts.items() if c["failed"] or c["unreachable"]}
    assert returncode == 0 and not bad, f"the run did not succeed (rc={returncode}, {bad}):\n{output[-6000:]}"
    return counts


@dataclasses.dataclass
class Run:
    rc: int
    output: str
    host: str = "localhost"

    @property
    def returncode(self) -> int:
        return self.rc

    @property
    def counts(self) -> dict[str, int]:
        """``host``'s PLAY RECAP counts, whether the run succeeded or not."""
        return recap(self.output, self.host)

    @property
    def ok(self) -> int:
        return self.counts["ok"]

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    @property
    def changed(self) -> int:
        """The changed count of a run that succeeded; an assertion error for one that did not."""
        return succeeded(self.rc, self.output, (self.host,))[self.host]["changed"]

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported changed (for assertion messages)."""
        names, current = [], None
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                current = line
            elif line.startswith("changed:") and current:
                names.append(current)
        return names

    def __str__(self) -> str:  # what an assertion message shows
        found = recaps_or_none(self.output)
        return f"ansible-playbook rc={self.rc} recap={found}\n{self.output[-6000:]}"


def recaps_or_none(output: str) -> dict[str, dict[str, int]] | None:
    """For messages only: the recaps, or None when there is none."""
    try:
        return recaps(output)
    except AssertionError:
        return None


def run_playbook(workdir: Path, name: str, playbook: str, extra_vars: dict, *options: str, timeout: int) -> Run:
    """Write ``playbook`` and its variables (mode 0600, removed afterwards: they may hold secrets) into
    ``workdir`` and run it from the repository root with the project's ansible.cfg."""
    vars_file = workdir / "vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    vars_file.chmod(0o600)
    path = workdir / name
    path.write_text(playbook)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    try:
        done = subprocess.run(
            [str(ANSIBLE_PLAYBOOK), *options, "-e", f"@{vars_file}", str(path)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        vars_file.unlink()
    return Run(done.returncode, done.stdout + done.stderr)

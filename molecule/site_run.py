"""Run site.yml on inventory/dev from a verify test, as an operator would from the repository root.

Molecule exports ANSIBLE_* settings of its own (colours, its generated config, plugin paths); a run that
stands for the operator's must not inherit them, so they are dropped and only ansible.cfg applies.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def site(*args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "MOLECULE_"))}
    env |= {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    run = subprocess.run(
        [
            str(pathlib.Path(sys.executable).with_name("ansible-playbook")),
            "site.yml",
            "-i",
            "inventory/dev",
            "-e",
            "@playbooks/vars/images-offline.yml",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    run.stdout, run.stderr = ANSI.sub("", run.stdout), ANSI.sub("", run.stderr)
    return run


def changed(output: str) -> int:
    """The changed count of localhost's PLAY RECAP line."""
    counts = re.findall(r"^localhost\s*:\s*ok=\d+\s+changed=(\d+)", output, re.MULTILINE)
    assert len(counts) == 1, output[-3000:]
    return int(counts[0])

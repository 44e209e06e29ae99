"""Run site.yml (or a runbook) from a verify test, as an operator would from the repository root.

Molecule exports ANSIBLE_* settings of its own (colours, its generated config, plugin paths, the scenario's
log file and verbosity); a run that stands for the operator's must not inherit them, so they are dropped and
only ansible.cfg applies. Shared by the scenarios' tests (they put this directory on sys.path).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The PLAY RECAP reader of the integration tests.
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from ansible_runs import recap, recaps, succeeded  # noqa: E402
from isolation import extra_vars  # noqa: E402 - molecule/ is on sys.path (conftest.py)

__all__ = ["changed", "playbook", "recap", "recaps", "site", "succeeded"]

ANSI = re.compile(r"\x1b\[[0-9;]*m")
OFFLINE_IMAGES = ("-e", "@playbooks/vars/images-offline.yml")
SCENARIOS = {"inventory/dev": "dev", "inventory/production": "production"}


def image_vars() -> tuple[str, ...]:
    """The offline stand-ins, unless the scenario runs on the official images (`make molecule IMAGES=official`)."""
    mode = os.environ.get("CRONICORN_MOLECULE_IMAGES", "offline")
    assert mode in ("offline", "official"), f"CRONICORN_MOLECULE_IMAGES must be offline or official, not {mode}"
    return OFFLINE_IMAGES if mode == "offline" else ()


def site(*args: str, inventory: str = "inventory/dev", vault_password_file: str | None = None):
    """ansible-playbook site.yml on ``inventory`` as converge runs it; returns the CompletedProcess."""
    return playbook("site.yml", *args, inventory=inventory, vault_password_file=vault_password_file)


def playbook(path: str, *args: str, inventory: str = "inventory/dev", vault_password_file: str | None = None):
    """ansible-playbook ``path`` (relative to the repository root) on ``inventory`` with the scenario's images,
    and the scenario's own names and ports (molecule/isolation.yml), as converge had them."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "MOLECULE_"))}
    env |= {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    vault = ("--vault-password-file", vault_password_file) if vault_password_file else ()
    run = subprocess.run(
        [
            str(pathlib.Path(sys.executable).with_name("ansible-playbook")),
            path,
            "-i",
            inventory,
            *image_vars(),
            *extra_vars(SCENARIOS[inventory]),
            *vault,
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


def changed(run: subprocess.CompletedProcess, host: str = "localhost") -> int:
    """The changed count of ``host``'s PLAY RECAP line, of a run that succeeded (an assertion error for a
    run that failed: a failed write reports changed=0 too)."""
    return succeeded(run.returncode, run.stdout, (host,))[host]["changed"]

"""The one PLAY RECAP reader of the integration tests, the views harness, the scenarios and the bench
(tests/integration/ansible_runs.py): a run without a recap is an error, never zeros, and a "changed" count
exists only for a run that succeeded (a run that fails its write also reports changed=0)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
for extra in (TESTS / "integration", TESTS / "fixtures" / "cronicorn"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import harness  # noqa: E402
from ansible_runs import Run, recap, recaps, run_playbook, succeeded  # noqa: E402

PLAY = """\
- name: A play on the controller
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
{tasks}
"""
WRITE = """\
    - name: Write a file
      ansible.builtin.copy:
        content: "x"
        dest: "{{ target }}"
        mode: "0600"
"""
FAIL = """\
    - name: Fail the write
      ansible.builtin.fail:
        msg: the write was refused
"""


def changed_of(run: Run) -> int:
    return run.changed


def failed_of(run: Run) -> int:
    return run.failed


def play(tmp_path: Path, tasks: str, **extra) -> Run:
    return run_playbook(tmp_path, "play.yml", PLAY.format(tasks=tasks), extra, "-i", "localhost,", timeout=120)


def test_changed_of_a_run_that_succeeded(tmp_path):
    target = tmp_path / "written"
    first = play(tmp_path, WRITE, target=str(target))
    assert first.changed == 1, str(first)
    assert play(tmp_path, WRITE, target=str(target)).changed == 0


def test_a_failed_run_has_no_changed_count(tmp_path):
    run = play(tmp_path, FAIL)
    assert run.counts == {"ok": 0, "changed": 0, "unreachable": 0, "failed": 1}
    assert run.failed == 1
    with pytest.raises(AssertionError, match="did not succeed"):
        changed_of(run)


def test_a_run_without_recap_is_an_error_not_zeros(tmp_path):
    run = play(tmp_path, "    - name: broken\n      no.such.module: {}\n")
    assert run.rc != 0
    assert "PLAY RECAP" not in run.output
    for read in (lambda: run.changed, lambda: run.counts, lambda: recaps(run.output), lambda: recap(run.output)):
        with pytest.raises(AssertionError, match="no PLAY RECAP"):
            read()


def test_the_views_harness_reads_the_same_way():
    crashed = harness.RoleRun(2, "ERROR! the role 'cronicorn.monitoring.analytics_views' was not found\n")
    with pytest.raises(AssertionError, match="no PLAY RECAP"):
        changed_of(crashed)
    with pytest.raises(AssertionError, match="no PLAY RECAP"):
        failed_of(crashed)
    failed = harness.RoleRun(2, "PLAY RECAP ***\nlocalhost : ok=3 changed=0 unreachable=0 failed=1 skipped=0\n")
    assert failed.failed == 1
    with pytest.raises(AssertionError, match="did not succeed"):
        changed_of(failed)
    assert "rc=2" in str(failed)


def test_succeeded_checks_every_host_it_names():
    output = "a : ok=1 changed=0 unreachable=0 failed=0\nb : ok=1 changed=0 unreachable=1 failed=0\n"
    assert succeeded(0, output, ("a",)) == {"a": {"ok": 1, "changed": 0, "unreachable": 0, "failed": 0}}
    with pytest.raises(AssertionError, match="did not succeed"):
        succeeded(0, output)
    with pytest.raises(AssertionError, match="no PLAY RECAP for"):
        succeeded(0, output, ("a", "c"))
    with pytest.raises(AssertionError, match="did not succeed"):
        succeeded(4, output, ("a",))

"""scripts/test-summary.py, the last word of `make test`: it fails when a report it expects is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "test-summary.py"
EXPECTED = ["unit", "integration", "molecule-dev", "molecule-production", "molecule-dev-official", "dev-stack"]


def report(directory: Path, name: str, *, tests: int = 3, failures: int = 0, skipped: int = 0, why: str = "") -> None:
    cases = "".join(f'<testcase name="t{i}"><skipped message="{why}"/></testcase>' for i in range(skipped))
    (directory / f"{name}.xml").write_text(
        f'<testsuites><testsuite name="pytest" tests="{tests}" failures="{failures}" errors="0" '
        f'skipped="{skipped}">{cases}</testsuite></testsuites>',
        encoding="utf-8",
    )


def summary(directory: Path, *args: str, ci: bool = False) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "CI": "true" if ci else "false"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(directory), *args], capture_output=True, text=True, env=env, check=False
    )


def test_every_expected_report_passed(tmp_path):
    for name in EXPECTED:
        report(tmp_path, name)
    run = summary(tmp_path)
    assert run.returncode == 0, run.stderr
    assert "summary: 18 passed, 0 failed, 0 skipped" in run.stdout


@pytest.mark.parametrize("missing", EXPECTED)
def test_a_missing_report_fails_the_run(tmp_path, missing):
    for name in EXPECTED:
        if name != missing:
            report(tmp_path, name)
    run = summary(tmp_path)
    assert run.returncode == 1
    assert f"missing report {missing}.xml" in run.stderr


def test_the_expected_reports_can_be_named(tmp_path):
    report(tmp_path, "unit")
    assert summary(tmp_path, "--expect", "unit").returncode == 0
    run = summary(tmp_path, "--expect", "unit,molecule-dev-official")
    assert run.returncode == 1
    assert "missing report molecule-dev-official.xml" in run.stderr


def test_failures_empty_reports_and_skips_under_ci(tmp_path):
    for name in EXPECTED:
        report(tmp_path, name)
    report(tmp_path, "unit", failures=1)
    assert summary(tmp_path).returncode == 1
    report(tmp_path, "unit", tests=0)
    assert "unit.xml holds no test" in summary(tmp_path).stderr
    report(tmp_path, "unit", skipped=1)
    assert summary(tmp_path).returncode == 0
    assert summary(tmp_path, ci=True).returncode == 1


def test_only_the_double_only_skips_of_an_official_run_pass_under_ci(tmp_path):
    for name in EXPECTED:
        report(tmp_path, name)
    report(tmp_path, "molecule-dev-official", skipped=2, why="IMAGES=official: the request journal is the double's")
    assert summary(tmp_path, ci=True).returncode == 0
    report(tmp_path, "molecule-dev-official", skipped=1, why="no docker")
    assert "1 test(s) were skipped under CI=true" in summary(tmp_path, ci=True).stderr
    report(tmp_path, "molecule-dev-official")
    report(tmp_path, "molecule-dev", skipped=1, why="IMAGES=official: in an offline report")
    assert summary(tmp_path, ci=True).returncode == 1


def test_an_empty_directory_fails(tmp_path):
    run = summary(tmp_path)
    assert run.returncode == 1
    assert run.stderr.count("missing report") == len(EXPECTED)

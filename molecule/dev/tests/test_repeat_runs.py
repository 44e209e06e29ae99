"""A converged dev stack, run again: nothing changes (also in check mode), and at -vvv no secret of the
inventory appears anywhere in the output."""

from __future__ import annotations

import pathlib
import re
import subprocess

import pytest
import yaml
from site_run import changed, site

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEV = yaml.safe_load((ROOT / "inventory/dev/group_vars/all/main.yml").read_text(encoding="utf-8"))
SECRETS = {
    name: value
    for name, value in DEV.items()
    if re.search(r"password|secret_key", name) and isinstance(value, str) and "{{" not in value
}


def test_the_inventory_has_the_secrets_this_test_looks_for():
    assert set(SECRETS) >= {
        "postgres_password",
        "metabase_encryption_secret_key",
        "metabase_appdb_password",
        "monitoring_readonly_password",
        "monitoring_metabase_admin_password",
    }


@pytest.fixture(scope="module")
def verbose_run() -> subprocess.CompletedProcess:
    return site("-vvv")


def test_a_repeat_run_changes_nothing(verbose_run):
    assert verbose_run.returncode == 0, verbose_run.stdout[-3000:]
    assert changed(verbose_run) == 0


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_no_secret_in_the_vvv_output(verbose_run, name):
    assert SECRETS[name] not in verbose_run.stdout + verbose_run.stderr


def test_check_mode_on_a_converged_stack_reports_no_change():
    run = site("--check", "--diff")
    assert run.returncode == 0, run.stdout[-3000:]
    assert changed(run) == 0

"""The preflight refuses the example vault's secrets: its fingerprints are those of the shipped example vault,
the filter finds them by value whatever the variable, and site.yml stops before anything is deployed, naming
the variables, unless monitoring_allow_example_secrets is true (which only the Molecule production scenario
sets). ansible-playbook runs here touch no host: the preflight's assert runs on the controller."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.cronicorn.monitoring.plugins.filter import monitoring as f

REPO = Path(__file__).resolve().parents[2]
VAULT_PASSWORD_FILE = REPO / "molecule" / "production" / "vault-password"
VAULT_FILE = REPO / "inventory" / "production" / "group_vars" / "all" / "vault.yml"
FINGERPRINTS = yaml.safe_load((REPO / "roles" / "preflight" / "vars" / "main.yml").read_text())[
    "_preflight_example_fingerprints"
]


def example_vault() -> dict[str, str]:
    # Imported here: a controller module imported while pytest collects would switch module_utils into
    # controller mode (warnings to the display) for the module tests collected with this file.
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret(VAULT_PASSWORD_FILE.read_bytes().strip())
    return yaml.safe_load(VaultLib([("default", secret)]).decrypt(VAULT_FILE.read_bytes()))


def test_the_fingerprints_are_those_of_the_example_vault():
    vault = example_vault()
    assert sorted(hashlib.sha256(str(v).encode()).hexdigest() for v in vault.values()) == sorted(FINGERPRINTS)


def test_the_filter_names_variables_holding_example_values():
    vault = example_vault()
    values = {
        "monitoring_readonly_password": vault["vault_monitoring_readonly_password"],
        "postgres_password": vault["vault_metabase_appdb_password"],  # another name, same value
        "metabase_appdb_password": "a-real-secret-of-the-operator",
        "monitoring_metabase_admin_password": "",
    }
    assert f.example_secrets(values, FINGERPRINTS) == ["monitoring_readonly_password", "postgres_password"]
    assert f.example_secrets({"x": None, "y": "other"}, FINGERPRINTS) == []


def playbook(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env |= {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "site.yml", "--tags", "preflight", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


PRODUCTION = ("-i", "inventory/production", "--vault-password-file", str(VAULT_PASSWORD_FILE))


def test_site_refuses_the_example_vault():
    run = playbook(*PRODUCTION)
    text = " ".join(run.stdout.split())
    assert run.returncode != 0, run.stdout[-3000:]
    assert "REFUSED:" in text and "hold(s) a secret of the example vault" in text
    for name in ("monitoring_db_login_password", "monitoring_readonly_password", "metabase_appdb_password"):
        assert name in text
    assert '"The vault"' in text or "The vault" in text
    for secret in example_vault().values():
        assert str(secret) not in run.stdout + run.stderr


@pytest.mark.parametrize(
    "args",
    [
        (*PRODUCTION, "-e", "monitoring_allow_example_secrets=true"),  # the Molecule production scenario
        ("-i", "inventory/dev"),  # dev-only values, not the example vault's
    ],
)
def test_site_goes_on_with_the_opt_in_or_other_secrets(args):
    run = playbook(*args)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "REFUSED" not in run.stdout

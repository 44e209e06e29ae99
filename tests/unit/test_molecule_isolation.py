"""The Molecule scenarios run under names and ports of their own (molecule/isolation.yml), never those of
`make deploy` or of the production inventory, and every playbook of a scenario loads them first.
The running proof is tests/guard (after `make test`, the dev stack or its sentinel is intact)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT / "molecule", ROOT / "scripts"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import dev_stack_guard  # noqa: E402
import isolation  # noqa: E402

SCENARIOS = ("dev", "production")
DEV = dev_stack_guard.dev_stack()
DEV_NAMES = set(DEV["containers"]) | set(DEV["volumes"]) | set(DEV["networks"])
PRODUCTION_NAMES = {
    "cronicorn-metabase",
    "cronicorn-metabase-db",
    "cronicorn-metabase-db-data",
    "cronicorn-proxy",
    "cronicorn-monitoring",
}
RESERVED_PORTS = {int(port) for _inner, port in DEV["containers"].values()} | {443, 80}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_names_and_ports_are_the_scenarios_own(scenario):
    stack = isolation.load(scenario)
    names = {value for key, value in stack.items() if key.endswith(("_container_name", "_volume", "_network"))}
    assert len(names) >= 5
    assert not names & (DEV_NAMES | PRODUCTION_NAMES)
    ports = {value for key, value in stack.items() if key.endswith("_port")}
    assert ports and all(isinstance(port, int) for port in ports)
    assert not ports & RESERVED_PORTS
    assert not any(str(value).startswith("/etc/cronicorn-monitoring") for value in stack.values())


def test_the_dev_names_are_the_ones_make_deploy_uses():
    assert DEV["containers"] == {"cronicorn-postgres": ("5432", 5432), "cronicorn-metabase": ("3000", 3030)}
    assert DEV_NAMES == {"cronicorn-postgres", "cronicorn-metabase", "cronicorn-postgres-data", "cronicorn-monitoring"}


def test_ports_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRONICORN_MOLECULE_METABASE_PORT", "40001")
    monkeypatch.setenv("CRONICORN_MOLECULE_POSTGRES_PORT", "40002")
    stack = isolation.load("dev")
    assert (stack["metabase_published_port"], stack["postgres_published_port"]) == (40001, 40002)
    assert stack["monitoring_metabase_url"] == "http://127.0.0.1:40001"


@pytest.mark.parametrize(
    "playbook",
    sorted(
        str(path.relative_to(ROOT))
        for scenario in SCENARIOS
        for path in (ROOT / "molecule" / scenario).glob("*.yml")
        if path.name not in ("molecule.yml", "isolation.yml")
    ),
)
def test_every_playbook_of_a_scenario_loads_the_names_first(playbook):
    plays = yaml.safe_load((ROOT / playbook).read_text(encoding="utf-8"))
    assert plays[0] == {
        "name": "Give the stack the scenario's names and ports",
        "ansible.builtin.import_playbook": "../isolate.yml",
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_scenario_passes_the_image_mode(scenario):
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text(encoding="utf-8"))
    extra = config["provisioner"]["options"]["extra-vars"]
    assert extra == "@${MOLECULE_PROJECT_DIRECTORY}/molecule/images-${CRONICORN_MOLECULE_IMAGES:-offline}.yml"
    for mode in ("offline", "official"):
        assert (ROOT / "molecule" / f"images-{mode}.yml").is_file()


def test_the_official_metabase_default_is_the_roles():
    text = (ROOT / "molecule" / "images-official.yml").read_text(encoding="utf-8")
    default = re.search(r"CRONICORN_MOLECULE_METABASE_IMAGE', default='([^']+)'", text)[1]
    role = yaml.safe_load((ROOT / "roles/metabase/defaults/main.yml").read_text(encoding="utf-8"))
    assert default == role["metabase_image"]


def test_no_dev_name_or_port_is_written_into_the_scenarios():
    """New verify tests take names and ports from molecule/isolation.py, not from memory."""
    pattern = re.compile(r"cronicorn-(postgres|metabase|proxy|monitoring)\b(?!-)|127\.0\.0\.1:(5432|3030)\b|:3030/")
    hits = []
    for path in sorted((ROOT / "molecule").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yml", ".sql"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert hits == []


def test_make_test_runs_every_stage_between_the_guards_start_and_its_check():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    order = [
        "dev_stack_guard.py start",
        "$(MAKE) --no-print-directory lint sanity unit integration molecule",
        "pytest tests/guard",
        "--junitxml=$(REPORTS)/dev-stack.xml",
        "dev_stack_guard.py stop",
        "test-summary.py",
    ]
    positions = [recipe.find(step) for step in order]
    assert -1 not in positions, dict(zip(order, positions, strict=True))
    assert positions == sorted(positions)
    # The sub-make line holds nothing else: `make -n test` runs lines with $(MAKE) for real.
    (line,) = [line for line in recipe.splitlines() if "$(MAKE)" in line]
    assert "dev_stack_guard" not in line and "pytest" not in line

"""The names and ports a scenario's stack runs under (molecule/isolation.yml and <scenario>/isolation.yml), as
the verify tests and the runs they start see them. The same files that molecule/isolate.yml loads into every
playbook of the scenario; the two forms of template they hold are resolved here: an environment lookup with a
default, and a reference to another of their variables."""

from __future__ import annotations

import os
import pathlib
import re

import yaml

MOLECULE = pathlib.Path(__file__).resolve().parent
ENV_LOOKUP = re.compile(
    r"^\{\{ lookup\('ansible\.builtin\.env', '(?P<name>\w+)', default='(?P<default>[^']*)'\)(?P<int> \| int)? \}\}$"
)
REFERENCE = re.compile(r"\{\{ (\w+) \}\}")


def files(scenario: str) -> tuple[pathlib.Path, pathlib.Path]:
    """The shared file and the scenario's, in the order isolate.yml loads them (the second wins)."""
    return MOLECULE / "isolation.yml", MOLECULE / scenario / "isolation.yml"


def load(scenario: str) -> dict:
    raw: dict = {}
    for path in files(scenario):
        raw |= yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: _resolve(raw, name) for name in raw}


def _resolve(raw: dict, name: str, depth: int = 0):
    assert depth < 10, f"{name}: references go round in circles"
    value = raw[name]
    if not isinstance(value, str):
        return value
    lookup = ENV_LOOKUP.match(value)
    if lookup:
        found = os.environ.get(lookup["name"]) or lookup["default"]
        return int(found) if lookup["int"] else found
    resolved = REFERENCE.sub(lambda ref: str(_resolve(raw, ref[1], depth + 1)), value)
    assert "{{" not in resolved, f"{name}: a template molecule/isolation.py cannot read: {value}"
    return resolved


def extra_vars(scenario: str) -> list[str]:
    """ansible-playbook options that give a run outside Molecule (a verify test's) the scenario's names."""
    return [option for path in files(scenario) for option in ("-e", f"@{path}")]

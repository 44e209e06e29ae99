"""No task puts a secret on a command line (argv of a command, a shell string, a container's command):
every user of the machine reads command lines (ps, /proc/PID/cmdline). Secrets go on standard input
(``stdin``), in a file, or in a container's environment. tests/integration/test_passwords_off_command_lines.py
watches the real processes of `make seed` and Molecule's prepare."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMMAND_MODULES = {
    "command": ("argv", "cmd", "_raw_params"),
    "shell": ("cmd", "_raw_params"),
    "raw": ("_raw_params",),
    "script": ("cmd", "_raw_params"),
    "docker_container_exec": ("argv", "command"),
    "docker_container": ("command", "entrypoint"),
}
SECRET_NAME = re.compile(r"password|secret|token|api_key|private_key", re.IGNORECASE)
JINJA = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
LITERAL = re.compile(r"password=(?!\{)\S+", re.IGNORECASE)


def yaml_files() -> list[Path]:
    found = [ROOT / "site.yml"]
    for folder in ("roles", "playbooks", "molecule"):
        found += sorted((ROOT / folder).rglob("*.yml"))
    return [path for path in found if "/.tmp/" not in str(path)]


def tasks(node):
    """Every mapping in the document (tasks, handlers, blocks; nested anywhere)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from tasks(value)
    elif isinstance(node, list):
        for value in node:
            yield from tasks(value)


def command_text(task: dict) -> list[str]:
    texts = []
    for key, value in task.items():
        short = key.rsplit(".", 1)[-1]
        # A module is named in a task (which has a name, or a dotted FQCN key), not among a module's options.
        if short not in COMMAND_MODULES or ("." not in key and "name" not in task):
            continue
        if isinstance(value, str):  # free form
            texts.append(value)
        elif isinstance(value, dict):
            for option in COMMAND_MODULES[short]:
                if option in value:
                    texts.append(yaml.safe_dump(value[option]))
    return texts


def secrets_on_command_lines(text: str) -> list[str]:
    named = [expr.strip() for expr in JINJA.findall(text) if SECRET_NAME.search(expr)]
    return named + LITERAL.findall(JINJA.sub("", text))


def problems(path: Path) -> list[str]:
    found = []
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        for task in tasks(document):
            for text in command_text(task):
                found += [f"{task.get('name', '?')}: {hit}" for hit in secrets_on_command_lines(text)]
    return found


FILES = yaml_files()


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_no_secret_on_a_command_line(path):
    assert problems(path) == []


def test_the_makefile_passes_no_password_on_a_command_line():
    recipes = [line for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines() if line.startswith("\t")]
    assert [line for line in recipes if re.search(r"password=|PGPASSWORD=|--password\b", line, re.I)] == []


def test_the_checker_finds_secrets(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: all\n  tasks:\n"
        "    - name: argv\n      ansible.builtin.command:\n"
        "        argv: [seed.py, --dsn, 'host=x password={{ monitoring_db_login_password }}']\n"
        "    - name: free form\n      ansible.builtin.shell: psql 'password=hunter2 host=x'\n"
        "    - name: fine\n      ansible.builtin.command:\n        argv: [seed.py, --password-stdin]\n"
        "        stdin: '{{ monitoring_db_login_password }}'\n"
        "    - block:\n        - name: exec\n          community.docker.docker_container_exec:\n"
        "            container: c\n            command: psql -c \"ALTER ROLE x PASSWORD '{{ vault_secret }}'\"\n"
    )
    assert problems(play) == [
        "argv: monitoring_db_login_password",
        "free form: password=hunter2",
        "exec: vault_secret",
    ]

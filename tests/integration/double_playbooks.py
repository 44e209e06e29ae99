"""The collection's modules against the Metabase API double, through ansible-playbook: what the playbook
tests share (test_metabase_double_modules.py, test_metabase_double_content.py, test_metabase_access_modules.py).

The ``double_scenario`` fixture of conftest.py yields a :class:`DoubleScenario`: a network, a PostgreSQL
stand-in holding the double's app DB and the ``warehouse`` database (with its read-only role), and a double
published on 127.0.0.1. Passwords go to the playbooks in an extra-vars file, never on the command line.

The containers and HTTP helpers are those of test_metabase_double_api.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ansible_runs import Run, run_playbook
from test_metabase_double_api import (  # it also makes tests/contract importable
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    NO_BODY,
    READER,
    READER_PASSWORD,
    SECRETS,
    Double,
    Stack,
    load_contract,
    ok,
    warehouse_stack,
)

#: Requests that change no content: login and logout, and the password check before setup.
NOT_WRITES = ("/api/session/", "/api/session", "/api/session/password-check")


@dataclasses.dataclass
class DoubleScenario:
    stack: Stack
    double: Double
    workdir: Path
    outputs: list[str] = dataclasses.field(default_factory=list, repr=False)  # a failing test prints no secret

    def extra(self, **overrides) -> dict:
        """The variables every playbook of these tests reads (the modules' connection, the database to register)."""
        return {
            "mb_url": f"http://127.0.0.1:{self.double.port}",
            "mb_admin_email": ADMIN_EMAIL,
            "mb_admin_password": ADMIN_PASSWORD,
            "mb_database_name": "Cronicorn",
            "mb_db_host": self.stack.pg.name,
            "mb_db_user": READER,
            "mb_db_password": READER_PASSWORD,
            **overrides,
        }

    def play(self, name: str, playbook: str, *options: str, **overrides) -> Run:
        run = run_playbook(self.workdir, name, playbook, self.extra(**overrides), *options, timeout=300)
        self.outputs.append(run.output)
        return run

    def journal(self) -> list[dict]:
        return self.stack.journal(self.double.app_db)

    def login(self, email: str, password: str):
        """A session of ``email`` on the double's API, or the refusal when the login fails."""
        answer = self.double.api.post("/api/session/", {"username": email, "password": password})
        if answer.status != 200:
            return answer
        SECRETS.add(answer.json["id"])
        return self.double.api.session(answer.json["id"])

    def admin(self):
        """A session of the admin (fails the test when the admin cannot log in)."""
        session_id = ok(self.double.api.post("/api/session/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        SECRETS.add(session_id["id"])
        return self.double.api.session(session_id["id"])


@contextmanager
def double_scenario(docker_client, workdir: Path, app_db: str) -> Iterator[DoubleScenario]:
    with warehouse_stack(docker_client) as stack:
        double = stack.start_double(stack.create_database(app_db), MB_LOAD_SAMPLE_CONTENT="false")
        yield DoubleScenario(stack, double, workdir)


def writes(entries: list[dict]) -> list[tuple[str, str]]:
    """Accepted requests that change Metabase's state (logging in and out, the password check aside)."""
    return [
        (e["method"], e["path"])
        for e in entries
        if e["method"] in ("POST", "PUT", "DELETE") and e["path"] not in NOT_WRITES
    ]


def contract_problems(entries: list[dict]) -> list[str]:
    """What in the journaled requests shared/metabase/openapi.json does not allow (trailing slashes included)."""
    contract = load_contract()
    problems = []
    for entry in entries:
        body = entry["body"] if entry["has_body"] else NO_BODY
        problems.extend(contract.check(entry["method"], entry["path"], query=entry["query"], body=body))
    return problems


def leaks(scenario: DoubleScenario) -> list[str]:
    """Where a secret shows: the double's logs, or a playbook run's output (by its number). Says where, never
    which secret, so that a failing test does not print it."""
    texts = {"the double's logs": scenario.double.logs()}
    texts.update((f"playbook run {number}", output) for number, output in enumerate(scenario.outputs, 1))
    secrets = SECRETS | {scenario.stack.server.password}
    return [where for where, text in texts.items() if any(secret in text for secret in secrets)]


__all__ = ["DoubleScenario", "contract_problems", "double_scenario", "leaks", "ok", "writes"]

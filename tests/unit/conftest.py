"""Fixtures for the unit tests: a fake Metabase at the client's transport boundary, checked
against Metabase's OpenAPI description, and a runner for the modules.

No sockets, no Docker, no sleeping: the client's transport, sleep and clock are replaced.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
for extra in (REPO / "collections", REPO / "tests" / "contract", Path(__file__).resolve().parent):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from ansible.module_utils import basic  # noqa: E402
from ansible_collections.cronicorn.monitoring.plugins.module_utils import metabase as metabase_utils  # noqa: E402
from fake_metabase import FakeMetabase  # noqa: E402
from openapi_contract import load_contract  # noqa: E402

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19: the classic pattern
    import contextlib

    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args=None):
        original = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = original


class FakeClock:
    """A monotonic clock that only moves when the client sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake_clock = FakeClock()
    monkeypatch.setattr(metabase_utils, "DEFAULT_SLEEP", fake_clock.sleep)
    monkeypatch.setattr(metabase_utils, "DEFAULT_CLOCK", fake_clock.monotonic)
    return fake_clock


@pytest.fixture
def contract():
    """Metabase's OpenAPI contract. A missing spec file fails the test (FileNotFoundError), never skips."""
    return load_contract()


@pytest.fixture
def fake_factory(monkeypatch, clock, contract):
    """Make fake Metabases; each becomes the transport of new clients. At teardown every request
    any of them received is validated against the OpenAPI spec."""
    fakes = []

    def make(**kwargs):
        fake = FakeMetabase(**kwargs)
        fakes.append(fake)
        monkeypatch.setattr(metabase_utils, "DEFAULT_TRANSPORT", fake)
        return fake

    yield make
    problems = []
    for fake in fakes:
        problems.extend(contract.check_many(fake.recorded()))
    assert not problems, "requests that break Metabase's OpenAPI spec:\n  " + "\n  ".join(problems)


@pytest.fixture
def fake(fake_factory):
    """A Metabase whose setup is done, with an admin, an API key and the Sample Database."""
    return fake_factory()


class ModuleExit(Exception):
    pass


@dataclass
class ModuleResult:
    failed: bool
    result: dict
    warnings: list = field(default_factory=list)
    no_log_values: set = field(default_factory=set)

    @property
    def changed(self):
        return self.result.get("changed")

    @property
    def msg(self):
        return self.result.get("msg", "")

    def text(self):
        """Everything the module showed: result, diff, failure message and warnings."""
        return json.dumps(self.result, sort_keys=True, default=str) + "\n" + "\n".join(self.warnings)


@pytest.fixture
def run_module(monkeypatch):
    """Run a module's main() with the given args; returns the raw exit_json/fail_json arguments.

    The arguments are captured before Ansible's own no_log masking, so tests see exactly what the
    module code produced.
    """

    def run(module, args, *, check_mode=False, diff=False):
        captured = {}
        warnings = []

        def exit_json(self, **kwargs):
            captured.update(failed=False, result=kwargs, no_log_values=set(self.no_log_values))
            raise ModuleExit()

        def fail_json(self, msg, **kwargs):
            kwargs.pop("exception", None)
            captured.update(
                failed=True, result=dict(kwargs, msg=msg, failed=True), no_log_values=set(self.no_log_values)
            )
            raise ModuleExit()

        def warn(self, warning, *args, **kwargs):
            warnings.append(warning)

        monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
        monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
        monkeypatch.setattr(basic.AnsibleModule, "warn", warn)
        module_args = dict(args)
        if check_mode:
            module_args["_ansible_check_mode"] = True
        if diff:
            module_args["_ansible_diff"] = True
        with patch_module_args(module_args), pytest.raises(ModuleExit):
            module.main()
        return ModuleResult(captured["failed"], captured["result"], warnings, captured["no_log_values"])

    return run

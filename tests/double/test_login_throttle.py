"""The Metabase double's login throttle follows Metabase's (session/api.clj, metabase/throttle core.clj).

Pure Python with a fake clock: no container, no database.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "images" / "metabase"))

from double import auth

USER = "ada@example.com"
HERE = "10.0.0.1"


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def throttle(clock):
    return auth.LoginThrottle(enabled=True, clock=clock)


def fail(throttle, times, address=HERE, username=USER):
    for _attempt in range(times):
        assert throttle.refusal(address, username) is None
        throttle.failed(address, username)


def test_ten_failures_refuse_the_username_whatever_the_password(throttle):
    fail(throttle, 9)
    assert throttle.refusal(HERE, USER) is None  # the 10th attempt still goes through
    throttle.failed(HERE, USER)
    # The 11th is refused before any password check: 15 s x 1^1.5 after the last failure.
    assert throttle.refusal(HERE, USER) == "Too many attempts! You must wait 15 seconds before trying again."


def test_refusals_count_as_failures_and_the_wait_grows(throttle, clock):
    fail(throttle, 10)
    assert throttle.refusal(HERE, USER).endswith("wait 15 seconds before trying again.")
    # That refusal was the 11th attempt: now 15 s x 2^1.5 = 42.4 s after it.
    assert throttle.refusal(HERE, USER) == "Too many attempts! You must wait 42 seconds before trying again."
    clock.now += 30
    # 12 attempts: 15 s x 3^1.5 = 77.9 s after the last refusal, 30 s ago... then that refusal counts too.
    assert throttle.refusal(HERE, USER) == "Too many attempts! You must wait 48 seconds before trying again."


def test_after_the_delay_the_username_stays_refused_until_its_attempts_age_out(throttle, clock):
    fail(throttle, 10)  # at t = 0
    clock.now += 600
    assert throttle.refusal(HERE, USER) == "Too many attempts! Please try again later."
    clock.now += 2900  # t = 3500: 11 attempts within the hour, refused again
    assert throttle.refusal(HERE, USER) == "Too many attempts! Please try again later."
    clock.now += 101  # t = 3601: the 10 failures aged out; the 2 refusals alone are below the threshold
    assert throttle.refusal(HERE, USER) is None


def test_fifty_failures_refuse_the_source_address_for_every_username(throttle):
    for n in range(50):
        fail(throttle, 1, username=f"user-{n}@example.com")
    assert throttle.refusal(HERE, USER).startswith("Too many attempts! You must wait 15 seconds")
    assert throttle.refusal("10.0.0.2", USER) is None  # another address
    # The address refusal did not run the username throttler: USER has no failure of its own.
    assert throttle.username.refusal(USER) is None
    assert len(throttle.username._recent(USER)) == 0


def test_a_username_refusal_counts_for_the_address_too(throttle):
    fail(throttle, 10)
    for _attempt in range(40):
        assert throttle.refusal(HERE, USER) is not None  # 10 + 40 = 50 attempts from HERE
    assert throttle.refusal(HERE, "someone-else@example.com").startswith("Too many attempts!")


def test_usernames_are_keys_as_sent(throttle):
    fail(throttle, 10, username="Ada@Example.com")
    assert throttle.refusal(HERE, "Ada@Example.com") is not None
    assert throttle.refusal(HERE, USER) is None


def test_a_success_clears_nothing(throttle):
    fail(throttle, 9)
    assert throttle.refusal(HERE, USER) is None  # a successful login: nothing recorded
    throttle.failed(HERE, USER)
    assert throttle.refusal(HERE, USER) is not None


def test_disabled_throttle_never_refuses(clock):
    throttle = auth.LoginThrottle(enabled=False, clock=clock)
    fail(throttle, 100)
    assert throttle.refusal(HERE, USER) is None


def _request(headers, remote_addr="172.18.0.1", env=None):
    return SimpleNamespace(
        header=lambda name: {k.lower(): v for k, v in headers.items()}.get(name.lower()),
        remote_addr=remote_addr,
        app=SimpleNamespace(config=SimpleNamespace(env=env or {})),
    )


@pytest.mark.parametrize(
    ("headers", "env", "expected"),
    [
        ({}, {}, "172.18.0.1"),
        ({"X-Forwarded-For": "10.1.2.3"}, {}, "10.1.2.3"),
        ({"X-Forwarded-For": "1.2.3.4, 5.6.7.8"}, {}, "5.6.7.8"),  # the proxy-appended entry
        ({"X-Real-IP": "10.1.2.3"}, {"MB_SOURCE_ADDRESS_HEADER": "X-Real-IP"}, "10.1.2.3"),
        ({"X-Forwarded-For": "10.1.2.3"}, {"MB_SOURCE_ADDRESS_HEADER": "X-Real-IP"}, "172.18.0.1"),
    ],
)
def test_source_address(headers, env, expected):
    assert auth.source_address(_request(headers, env=env)) == expected

"""The Metabase double refuses the passwords Metabase refuses (util/password.clj ``is-valid?``).

Metabase's list is resources/common_passwords.txt: Dropbox zxcvbn's passwords of 6 characters or
more with a digit, most frequent first. The double builds it from the zxcvbn package; the entries
below are copied from the start, the middle and the end of the part both share.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "images" / "metabase"))

from double import auth

NORMAL = {}


@pytest.mark.parametrize(
    "password",
    [
        "123456",  # line 1 of Metabase's file
        "trustno1",
        "jordan23",
        "polniypizdec0211",  # around line 400
        "sojdlg123aljg",
        "mailcreated5240",
        "xxxp455w0rd5",  # around line 10 600
        "arsenal123",
        "11234567",  # line 10 706, the last line zxcvbn's 30 000 cover
        "TrustNo1",  # compared in lower case
    ],
)
def test_passwords_on_metabase_s_list_are_refused(password):
    assert not auth.password_ok(password, NORMAL)


def test_the_list_is_the_filtered_zxcvbn_list():
    assert len(auth.COMMON_PASSWORDS) == 10_706
    assert all(len(word) >= 6 and any(c.isdigit() for c in word) for word in auth.COMMON_PASSWORDS)


@pytest.mark.parametrize("password", ["Cronicorn-Admin-2026", "k7Vq-39xLm", "abcdef1x9q"])
def test_other_passwords_that_pass_the_complexity_are_accepted(password):
    assert auth.password_ok(password, NORMAL)


@pytest.mark.parametrize(
    ("env", "password", "accepted"),
    [
        ({}, "abcdefgh", False),  # normal: a digit is required
        ({}, "abc12", False),  # normal: 6 characters
        ({"MB_PASSWORD_COMPLEXITY": "weak"}, "trustno1", True),  # weak skips the common list
        ({"MB_PASSWORD_COMPLEXITY": "weak"}, "abcdefgh", True),
        ({"MB_PASSWORD_LENGTH": "4"}, "1234", True),  # MB_PASSWORD_LENGTH replaces the minimum; not listed
        ({"MB_PASSWORD_LENGTH": "12"}, "k7Vq-39xLm", False),
        ({"MB_PASSWORD_COMPLEXITY": "strong"}, "Abcdef1!", False),  # 2 upper-case letters needed
        ({"MB_PASSWORD_COMPLEXITY": "strong"}, "ABcdef1!", True),
        ({"MB_PASSWORD_COMPLEXITY": "strong"}, "ABcdef12", False),  # 1 special character needed
    ],
)
def test_complexity_rules(env, password, accepted):
    assert auth.password_ok(password, env) is accepted


@pytest.mark.parametrize("value", [None, "", "      ", 12345678])
def test_blank_or_not_a_string_is_refused(value):
    assert not auth.password_ok(value, NORMAL)

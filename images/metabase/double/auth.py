"""Users, passwords, sessions and API keys, the way Metabase handles them (behaviour.md §2, §3).

* Passwords are stored as scrypt hashes (``scrypt$n$r$p$salt$hash``), never in clear. The rules of
  MB_PASSWORD_COMPLEXITY / MB_PASSWORD_LENGTH apply, plus a list of common passwords; a password
  that fails gets Metabase's "password is too common.".
* A session id is a random UUID; the app DB keeps only its SHA-256 (``core_session.key_hashed``).
  Sessions last MAX_SESSION_AGE minutes.
* An API key is ``mb_`` + base64 of 32 random bytes. The app DB keeps its 7-character prefix (to
  find it) and an scrypt hash; the key itself is shown once, when created or regenerated. Every key
  has its own user (type ``api-key``), in All Users and the key's group; Administrators makes it
  a superuser.
* A request authenticates with ``X-API-Key``, or with ``X-Metabase-Session`` (or the
  ``metabase.SESSION`` cookie). Missing or unknown credentials answer 401 ``Unauthenticated``;
  a non-admin on an admin endpoint gets 403 ``You don't have permissions to do that.``.
* Failed logins are throttled like Metabase's (session/api.clj with metabase/throttle): after 10
  failures for a username, or 50 from a source address, within an hour, every login for it is
  refused (right password or not) and each refusal counts as a failure too
  (MB_DISABLE_SESSION_THROTTLE=true turns it off). The counters live in memory, as Metabase's do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping

from double import appdb, content
from double.web import UNAUTHENTICATED, HTTPError, Request, Response, forbidden

SESSION_HEADER = "X-Metabase-Session"
API_KEY_HEADER = "X-API-Key"
SESSION_COOKIE = "metabase.SESSION"

ALL_USERS_GROUP = 1
ADMIN_GROUP = 2

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
# API keys carry 256 random bits: a cheaper scrypt costs an attacker nothing, and keeps requests fast.
_KEY_SCRYPT_N = 2**12

TOO_COMMON = "password is too common."


def _common_passwords() -> frozenset[str]:
    """Metabase's common-password list (resources/common_passwords.txt, read by util/password.clj).

    Metabase's file is Dropbox zxcvbn's password list, most frequent first, keeping the passwords of
    6 characters or more with a digit (those that pass the default complexity). zxcvbn's Python port
    (Debian's python3-zxcvbn, or zxcvbn on PyPI) ships that list cut at its 30 000 most frequent
    entries; the same filter gives the first 10 706 lines of Metabase's file, in the same order. The
    ~1 900 rarer lines at the end of Metabase's file (from zxcvbn's uncut data) are missing here.
    """
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # noqa: PLC0415 - a large module, loaded once

    return frozenset(word for word in FREQUENCY_LISTS["passwords"] if len(word) >= 6 and any(c.isdigit() for c in word))


COMMON_PASSWORDS = _common_passwords()


# -- passwords ---------------------------------------------------------------------------------


def hash_password(password: str, n: int = _SCRYPT_N) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${n}${_SCRYPT_R}${_SCRYPT_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored or not password:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def password_complexity(env: Mapping[str, str]) -> dict:
    """The rules of MB_PASSWORD_COMPLEXITY (weak|normal|strong) and MB_PASSWORD_LENGTH, as
    util/password.clj's ``active-password-complexity``: MB_PASSWORD_LENGTH replaces the minimum length."""
    rules = {"weak": {"total": 6}, "strong": {"total": 8, "lower": 2, "upper": 2, "digit": 1, "special": 1}}.get(
        _complexity_level(env), {"total": 6, "digit": 1}
    )
    length = (env.get("MB_PASSWORD_LENGTH") or "").strip()
    if length.isdigit():
        rules = {**rules, "total": int(length)}
    return rules


def _complexity_level(env: Mapping[str, str]) -> str:
    return (env.get("MB_PASSWORD_COMPLEXITY") or "normal").strip().lower()


def password_ok(password: object, env: Mapping[str, str]) -> bool:
    """Whether Metabase accepts ``password`` (util/password.clj ``is-valid?``): complex enough, and,
    unless the complexity is ``weak``, not on the common-password list (compared in lower case)."""
    if not isinstance(password, str) or not password.strip():
        return False
    counts = {"total": len(password), "lower": 0, "upper": 0, "digit": 0, "special": 0}
    for char in password:  # Java's Character/isLowerCase, isUpperCase, isDigit; anything else is special
        kind = "lower" if char.islower() else "upper" if char.isupper() else "digit" if char.isdigit() else "special"
        counts[kind] += 1
    if any(counts[kind] < minimum for kind, minimum in password_complexity(env).items()):
        return False
    return _complexity_level(env) == "weak" or password.lower() not in COMMON_PASSWORDS


# -- users -------------------------------------------------------------------------------------

_USER_COLUMNS = (
    "id, email, first_name, last_name, is_superuser, is_active, is_installer, type, locale, "
    "date_joined, last_login, updated_at, password_hash"
)


def common_name(user: Mapping) -> str:
    names = " ".join(part for part in (user.get("first_name"), user.get("last_name")) if part)
    return names or user["email"]


def create_user(
    cur,
    *,
    email: str,
    password: str | None,
    first_name: str | None = None,
    last_name: str | None = None,
    superuser: bool = False,
    kind: str = "personal",
    installer: bool = False,
) -> dict:
    """Insert a user in All Users (and Administrators when ``superuser``); personal users also get
    their personal collection, as in Metabase."""
    cur.execute(
        "INSERT INTO core_user (email, first_name, last_name, password_hash, is_superuser, type, is_installer)"  # noqa: S608 - constant column list
        f" VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_USER_COLUMNS}",
        (
            email,
            first_name,
            last_name,
            hash_password(password) if password else None,
            superuser,
            kind,
            installer,
        ),
    )
    user = appdb.one(cur)
    set_groups(cur, user["id"], [ALL_USERS_GROUP] + ([ADMIN_GROUP] if superuser else []))
    if kind == "personal":
        content.create_personal_collection(cur, user["id"], f"{common_name(user)}'s Personal Collection")
    return user


def set_groups(cur, user_id: int, group_ids: list[int]) -> None:
    """Make ``group_ids`` the user's groups; membership of Administrators is ``is_superuser``."""
    cur.execute("DELETE FROM permissions_group_membership WHERE user_id = %s", (user_id,))
    for group_id in sorted(set(group_ids)):
        cur.execute("INSERT INTO permissions_group_membership (user_id, group_id) VALUES (%s, %s)", (user_id, group_id))
    cur.execute(
        "UPDATE core_user SET is_superuser = %s, updated_at = now() WHERE id = %s", (ADMIN_GROUP in group_ids, user_id)
    )


def get_user(cur, user_id: int) -> dict | None:
    cur.execute(f"SELECT {_USER_COLUMNS} FROM core_user WHERE id = %s", (user_id,))  # noqa: S608 - constant column list
    return appdb.one(cur)


def find_user_by_email(cur, email: str) -> dict | None:
    cur.execute(f"SELECT {_USER_COLUMNS} FROM core_user WHERE lower(email) = lower(%s)", (email,))  # noqa: S608 - constant column list
    return appdb.one(cur)


def user_json(cur, user: Mapping) -> dict:
    """GET /api/user/current: the user without any secret."""
    cur.execute("SELECT group_id FROM permissions_group_membership WHERE user_id = %s ORDER BY group_id", (user["id"],))
    group_ids = [row[0] for row in cur.fetchall()]
    cur.execute("SELECT id FROM collection WHERE personal_owner_id = %s", (user["id"],))
    personal = cur.fetchone()
    return {
        "id": user["id"],
        "email": user["email"],
        "first_name": user["first_name"],
        "last_name": user["last_name"],
        "common_name": common_name(user),
        "is_superuser": user["is_superuser"],
        "is_active": user["is_active"],
        "is_installer": user["is_installer"],
        "is_qbnewb": False,
        "locale": user["locale"],
        "date_joined": user["date_joined"],
        "last_login": user["last_login"],
        "updated_at": user["updated_at"],
        "sso_source": None,
        "type": user["type"],
        "personal_collection_id": personal[0] if personal else None,
        "group_ids": group_ids,
        "user_group_memberships": [{"id": group_id} for group_id in group_ids],
        "has_invited_second_user": False,
        "has_question_and_dashboard": False,
    }


# -- sessions ----------------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def create_session(cur, user_id: int) -> str:
    session_id = str(uuid.uuid4())
    cur.execute("INSERT INTO core_session (key_hashed, user_id) VALUES (%s, %s)", (_sha256(session_id), user_id))
    cur.execute("UPDATE core_user SET last_login = now() WHERE id = %s", (user_id,))
    return session_id


def delete_session(cur, session_id: str) -> bool:
    """End a session; whether there was one."""
    cur.execute("DELETE FROM core_session WHERE key_hashed = %s", (_sha256(session_id),))
    return cur.rowcount > 0


def session_cookie(session_id: str) -> dict[str, str]:
    return {"Set-Cookie": f"{SESSION_COOKIE}={session_id};HttpOnly;Path=/;SameSite=Lax"}


class Throttler:
    """One throttler of metabase/throttle (``throttle.core``), as ``with-throttling`` uses it.

    It keeps failed attempts per key for ``ttl`` seconds. When a key has ``threshold`` recent
    attempts or more, every further attempt is refused, whatever its credentials, and the refusal
    counts as one more attempt; the message says how long until the delay
    ``initial_delay x (attempts + 1 - threshold) ^ exponent`` after the most recent attempt is over,
    or "Please try again later." once it is (the key stays refused until its attempts age out).
    """

    def __init__(
        self,
        threshold: int,
        *,
        ttl: float = 3600.0,
        initial_delay: float = 15.0,
        exponent: float = 1.5,
        clock=time.time,
    ) -> None:
        self.threshold = threshold
        self.ttl = ttl
        self.initial_delay = initial_delay
        self.exponent = exponent
        self._clock = clock
        self._attempts: dict[str, list[float]] = {}

    def _recent(self, key: str) -> list[float]:
        now = self._clock()
        recent = [t for t in self._attempts.get(key, []) if t > now - self.ttl]
        self._attempts[key] = recent
        return recent

    def refusal(self, key: str) -> str | None:
        """The "Too many attempts!" message when ``key`` is refused now, else None."""
        recent = self._recent(key)
        if len(recent) < self.threshold:
            return None
        delay = self.initial_delay * (len(recent) + 1 - self.threshold) ** self.exponent
        remaining = recent[-1] + delay - self._clock()
        if remaining > 0:
            seconds = math.floor(remaining + 0.5)  # Clojure's round: half up
            return f"Too many attempts! You must wait {seconds} seconds before trying again."
        return "Too many attempts! Please try again later."

    def add_attempt(self, key: str) -> None:
        self._recent(key).append(self._clock())


class LoginThrottle:
    """Metabase's login throttling (session/api.clj): ``with-throttling`` over a per-source-address
    throttler (50 attempts) around a per-username throttler (10 attempts), an hour each.

    A refused or failed login counts for both keys; a refusal by the address throttler counts for
    the address only (the username throttler never ran). A successful login clears nothing. Both
    report under ``errors.username``, with status 401. Usernames are keys as sent (not lower-cased).
    """

    USERNAME_THRESHOLD = 10
    ADDRESS_THRESHOLD = 50

    def __init__(self, enabled: bool = True, clock=time.time) -> None:
        self.enabled = enabled
        self.username = Throttler(self.USERNAME_THRESHOLD, clock=clock)
        self.address = Throttler(self.ADDRESS_THRESHOLD, clock=clock)
        self._lock = threading.Lock()

    def refusal(self, address: str, username: str) -> str | None:
        """Check before the login; a refusal is recorded as a failed attempt and returned."""
        if not self.enabled:
            return None
        with self._lock:
            message = self.address.refusal(address)
            if message is None:
                message = self.username.refusal(username)
                if message is not None:
                    self.username.add_attempt(username)
            if message is not None:
                self.address.add_attempt(address)
            return message

    def failed(self, address: str, username: str) -> None:
        """A login that was let through and failed (wrong password, unknown or disabled user)."""
        if not self.enabled:
            return
        with self._lock:
            self.username.add_attempt(username)
            self.address.add_attempt(address)


def source_address(request: Request) -> str:
    """Where a request comes from, as Metabase's ``request/ip-address`` sees it: the last entry of the
    ``source-address-header`` (MB_SOURCE_ADDRESS_HEADER, default X-Forwarded-For) when present,
    else the peer address."""
    header = request.app.config.env.get("MB_SOURCE_ADDRESS_HEADER") or "X-Forwarded-For"
    forwarded = request.header(header)
    if forwarded and forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return request.remote_addr or ""


# -- API keys ----------------------------------------------------------------------------------


def generate_api_key() -> str:
    return "mb_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def key_prefix(key: str) -> str:
    return key[:7]


def mask_key(key: str) -> str:
    return key_prefix(key) + "*" * (len(key) - 7)


def hash_api_key(key: str) -> str:
    return hash_password(key, n=_KEY_SCRYPT_N)


class _VerifiedKeys:
    """Remembers which (presented key digest, stored hash) pairs verified, so a key costs one
    scrypt per process rather than one per request. Holds SHA-256 digests only, never keys."""

    def __init__(self) -> None:
        self._ok: dict[str, str] = {}
        self._lock = threading.Lock()

    def verify(self, key: str, stored: str) -> bool:
        digest = _sha256(key)
        with self._lock:
            if self._ok.get(digest) == stored:
                return True
        if not verify_password(key, stored):
            return False
        with self._lock:
            if len(self._ok) > 1000:
                self._ok.clear()
            self._ok[digest] = stored
        return True


_verified_keys = _VerifiedKeys()

_API_KEY_SHAPE = re.compile(r"^mb_[A-Za-z0-9+/=]{4,}$")


def user_for_api_key(cur, key: str) -> dict | None:
    if not _API_KEY_SHAPE.match(key):
        return None
    cur.execute("SELECT user_id, key_hashed FROM api_key WHERE key_prefix = %s", (key_prefix(key),))
    row = cur.fetchone()
    if row is None or not _verified_keys.verify(key, row[1]):
        return None
    return get_user(cur, row[0])


def user_for_session(cur, session_id: str, max_age_minutes: int) -> dict | None:
    cur.execute(
        "SELECT user_id FROM core_session WHERE key_hashed = %s AND created_at > now() - make_interval(mins => %s)",
        (_sha256(session_id), max_age_minutes),
    )
    row = cur.fetchone()
    return get_user(cur, row[0]) if row else None


# -- request authentication --------------------------------------------------------------------


def unauthenticated() -> HTTPError:
    return HTTPError(Response.text(UNAUTHENTICATED, 401))


def authenticate(request: Request) -> dict:
    """The user behind the request's credentials (set on ``request.user``), else 401."""
    if request.user is not None:
        return request.user
    # server/middleware/session.clj merge-current-user-info: (or session-user api-key-user): a valid
    # session wins over an API key; an unknown or expired session falls back to the key.
    api_key = request.header(API_KEY_HEADER)
    session_id = (request.header(SESSION_HEADER) or request.cookie(SESSION_COOKIE) or "").strip()
    user, via_session = None, False
    with request.app.db.transaction() as cur:
        if session_id:
            user = user_for_session(cur, session_id, request.app.config.max_session_age_minutes)
            via_session = user is not None and user["is_active"]
        if not via_session and api_key:
            user = user_for_api_key(cur, api_key.strip())
    if user is None or not user["is_active"]:
        raise unauthenticated()
    request.user = user
    request.session_key = session_id if via_session else None
    return user


def require_superuser(request: Request) -> dict:
    user = authenticate(request)
    if not user["is_superuser"]:
        raise forbidden()
    return user

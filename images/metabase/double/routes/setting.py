"""/api/setting (content-facts.md §7). Superusers only.

* ``GET /api/setting/`` the settings sorted by key, each ``{key, value, is_env_setting, env_name,
  description, default}``; **``value`` is null when the value is the default or comes from the
  environment** (trap 8); ``default`` reads ``"Using value of env var $MB_X"`` for an env setting;
* ``GET /api/setting/{key}`` the same ``value`` (null for default or env values); an unknown key ->
  500 ``Unknown setting: <key>`` [not confirmed];
* ``PUT /api/setting/{key}`` ``{"value": v}`` -> 204 (null reverts to the default). A key the
  environment sets is still written (Metabase does not check) but reads keep the env value; a
  read-only key -> 500 "You cannot set X; it is a read-only setting."; ``enable-password-login`` is a
  paid feature -> 500 "Setting ... is not enabled because feature ... is not available";
* ``PUT /api/setting/`` ``{k: v, ...}``: the same for several keys (unknown ones skipped).

``site-url`` is normalized on write (trailing ``/`` removed, ``http://`` added without a scheme).
``enable-query-caching`` is read-only: true while a cache policy exists (routes/cache.py).
"""

from __future__ import annotations

import json
from typing import NamedTuple

from double import appdb, auth, settings
from double.web import Request, Response, Router


class Meta(NamedTuple):
    kind: str  # boolean | string | json
    description: str
    feature: str | None = None
    read_only: bool = False


META: dict[str, Meta] = {
    "site-name": Meta("string", "The name used for this instance of Metabase."),
    "site-url": Meta("string", "This URL is used for things like creating links in emails, auth redirects, ..."),
    "site-locale": Meta("string", "The default language for all users across the Metabase UI."),
    "admin-email": Meta("string", "The email address users should be referred to if they encounter a problem."),
    "anon-tracking-enabled": Meta("boolean", "Enable the collection of anonymous usage data."),
    "enable-public-sharing": Meta("boolean", "Enable admins to create publicly viewable links for questions."),
    "enable-embedding": Meta("boolean", "Allow admins to securely embed questions and dashboards (deprecated)."),
    "enable-embedding-static": Meta("boolean", "Allow admins to embed Metabase via static embedding?"),
    "enable-embedding-interactive": Meta("boolean", "Allow admins to embed Metabase via interactive embedding?"),
    "enable-embedding-sdk": Meta("boolean", "Allow admins to embed Metabase via the SDK?"),
    "check-for-updates": Meta("boolean", "Identify when new versions of Metabase are available."),
    "report-timezone": Meta("string", "Connection timezone to use when executing queries."),
    "enable-password-login": Meta("boolean", "Allow logging in by email and password.", "disable-password-login"),
    "session-timeout": Meta("json", "Time before inactive users are logged out."),
    "enable-query-caching": Meta(
        "boolean", "Allow caching results of queries that take a long time to run.", None, read_only=True
    ),
}


def register(router: Router) -> None:
    router.route("GET", "/api/setting")(list_settings)
    router.route("PUT", "/api/setting")(put_many)
    router.route("GET", "/api/setting/{key}")(get_one)
    router.route("PUT", "/api/setting/{key}")(put_one)


def _decode(key: str, raw: str | None) -> object:
    if raw is None:
        return None
    kind = META[key].kind
    if kind == "boolean":
        return raw.strip().lower() == "true"
    if kind == "json":
        try:
            return json.loads(raw)
        except ValueError:
            return None
    return raw


def _cache_exists(cur) -> bool:
    cur.execute("SELECT EXISTS (SELECT 1 FROM cache_config)")
    return bool(cur.fetchone()[0])


def _item(cur, env, key: str) -> dict:
    meta = META[key]
    if key == "enable-query-caching":
        return {
            "key": key,
            "value": None,
            "is_env_setting": False,
            "env_name": "MB_ENABLE_QUERY_CACHING",
            "description": meta.description,
            "default": _cache_exists(cur),
        }
    setting = settings.SETTINGS[key]
    from_env = settings.from_env(env, key)
    stored = appdb.get_setting(cur, key)
    default = _decode(key, setting.default)
    value = None
    if from_env is None and stored is not None and _decode(key, stored) != default:
        value = _decode(key, stored)
    return {
        "key": key,
        "value": value,
        "is_env_setting": from_env is not None,
        "env_name": setting.env_var,
        "description": meta.description,
        "default": f"Using value of env var ${setting.env_var}" if from_env is not None else default,
    }


def _unknown(key: str) -> Response:
    return Response.json({"message": f"Unknown setting: {key}"}, 500)


def list_settings(request: Request) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        return Response.json([_item(cur, request.app.config.env, key) for key in sorted(META)])


def get_one(request: Request, key: str) -> Response:
    auth.require_superuser(request)
    if key not in META:
        return _unknown(key)
    with request.app.db.transaction() as cur:
        return Response.json(_item(cur, request.app.config.env, key)["value"])


def _normalize(key: str, value: object) -> str | None:
    if value is None:
        return None
    kind = META[key].kind
    if kind == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower()
        return "true" if bool(value) else "false"
    if kind == "json":
        return json.dumps(value)
    text = str(value)
    if key == "site-url":
        text = text.rstrip("/")
        if "://" not in text:
            text = "http://" + text
    return text


def _write(cur, key: str, value: object) -> Response | None:
    meta = META[key]
    if meta.read_only:
        return Response.json({"message": f"You cannot set {key}; it is a read-only setting."}, 500)
    if meta.feature:
        return Response.json(
            {"message": f"Setting {key} is not enabled because feature :{meta.feature} is not available"}, 500
        )
    settings.put(cur, key, _normalize(key, value))
    return None


def put_one(request: Request, key: str) -> Response:
    auth.require_superuser(request)
    if key not in META:
        return _unknown(key)
    body = request.json()
    value = body.get("value") if isinstance(body, dict) else None
    with request.app.db.transaction() as cur:
        refused = _write(cur, key, value)
    return refused or Response.empty(204)


def put_many(request: Request) -> Response:
    auth.require_superuser(request)
    body = request.json()
    body = body if isinstance(body, dict) else {}
    with request.app.db.transaction() as cur:
        for key, value in body.items():
            if key in META:
                refused = _write(cur, key, value)
                if refused:
                    return refused
    return Response.empty(204)

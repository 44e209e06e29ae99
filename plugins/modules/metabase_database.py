#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_database
short_description: Register, update or remove a database connection in Metabase
version_added: 0.1.0
description:
  - Manages one database connection (Admin > Databases in the Metabase UI) through the REST API,
    identified by its display O(name) and its O(engine).
  - Creates it with C(POST /api/database/), updates only the connection details that differ with
    C(PUT /api/database/{id}), and deletes it with C(DELETE /api/database/{id}).
  - Metabase tests the connection before it saves a new or changed connection. When the test fails,
    the module fails with Metabase's own message (for example V(Looks like your Password is incorrect.))
    and nothing is registered or changed.
  - PostgreSQL (V(postgres)) has convenience options; any engine can be configured through O(details).
author:
  - Cronicorn operations (@cronicorn)
extends_documentation_fragment:
  - cronicorn.monitoring.metabase
  - cronicorn.monitoring.metabase.actiongroup
  - ansible.builtin.action_common_attributes
  - cronicorn.monitoring.attributes
attributes:
  check_mode:
    details:
      - In check mode the module reads from Metabase but never writes, and never triggers a sync.
      - In check mode it does not wait for Metabase. When Metabase is not running (a dry run before it
        exists), it reports at once that the connection would be registered, with a warning.
  diff_mode:
    details:
      - The diff holds the compared keys only (O(name), O(engine), the O(details) keys the module
        sets and O(auto_run_queries)). Passwords and other secrets show as C(********).
options:
  name:
    description:
      - Display name of the database in Metabase. Together with O(engine) it identifies the connection.
      - Metabase allows several connections with the same name; when more than one matches, the
        module fails instead of guessing.
    type: str
    required: true
  engine:
    description:
      - Metabase driver name of the database, for example V(postgres), V(mysql), V(h2).
      - A connection with the same O(name) but another engine is never changed or replaced; with
        O(state=present) the module fails, with O(state=absent) it warns and leaves it alone.
    type: str
    default: postgres
  state:
    description:
      - Whether the connection should exist.
    type: str
    choices: [present, absent]
    default: present
  host:
    description:
      - Host name or address of the database server, as Metabase reaches it. Sets C(details.host).
    type: str
  port:
    description:
      - Port of the database server. Sets C(details.port).
    type: int
  dbname:
    description:
      - Name of the database on the server. Sets C(details.dbname).
    type: str
  db_user:
    description:
      - Database user Metabase connects as. Sets C(details.user).
      - Named C(db_user) because O(username) is the Metabase login.
    type: str
  db_password:
    description:
      - Password of O(db_user). Sets C(details.password).
      - Named C(db_password) because O(password) is the Metabase login password.
      - Metabase never returns it, so it cannot be compared; see O(update_password).
    type: str
  ssl:
    description:
      - Whether Metabase must use SSL to connect. Sets C(details.ssl).
      - V(false) means "SSL not required". When Metabase creates a connection without C(ssl=true), it
        first tries SSL and, when that works, saves C(ssl=true). So a stored V(true) satisfies a
        wanted V(false), and the module reports no change for it. When other details change, the
        wanted V(false) is sent along with them, so that Metabase tests the changed connection
        without SSL.
    type: bool
  details:
    description:
      - Connection details for any engine, exactly as Metabase stores them in C(details), for example
        C(schema-filters-type), C(ssl-mode), C(additional-options), or the keys of another driver.
      - The details sent are this dictionary plus the convenience options O(host), O(port), O(dbname),
        O(db_user), O(db_password) and O(ssl) that are set. Giving a key both ways is an error.
      - Keys with a null value are ignored, because Metabase cannot remove a detail once stored.
      - Only the keys given here or through the convenience options are compared with what Metabase
        stores; everything else Metabase keeps (or adds) is left alone.
      - Secrets do not belong here. This option is not C(no_log), so Ansible would write them to
        the system log of the target when the module starts. Known secret keys (C(password),
        C(tunnel-pass), C(tunnel-private-key), C(access-token) and the like) are refused with a message
        naming O(secret_details); give the password in O(db_password) and other secrets in O(secret_details).
      - A key Metabase returns as C(**MetabasePass**) is still treated as a secret (masked, not compared).
    type: dict
  secret_details:
    description:
      - Secret connection details, for example C(tunnel-pass), C(tunnel-private-key) or a driver's
        token, merged into the C(details) sent to Metabase (like C(secure_json_data) of
        M(community.grafana.grafana_datasource)).
      - This option is C(no_log), so Ansible masks every value in its logs and output; the module
        masks them in the diff and leaves these keys out of the returned O(details).
      - They are never compared (Metabase returns secrets only as C(**MetabasePass**)); O(update_password)
        decides when they are sent, as for O(db_password).
      - A key may not be given both here and in O(details) or through a convenience option.
    type: dict
  update_password:
    description:
      - When to send O(db_password), O(secret_details) and any other secret of O(details) to Metabase.
      - V(on_create) sends them only when the connection is created. Later runs neither send nor
        compare them, so a run with unchanged options reports no change. A changed password is not
        noticed; use V(always) once to rotate it.
      - V(always) sends them on every run and always reports C(changed) when the connection exists,
        because Metabase returns secrets only as C(**MetabasePass**) and the module cannot tell
        whether the stored one differs. Metabase tests the connection with the new password and
        refuses it, changing nothing, when it does not work.
    type: str
    choices: [always, on_create]
    default: on_create
  auto_run_queries:
    description:
      - Whether Metabase runs queries automatically when users open questions on this database.
      - Compared and set only when given.
    type: bool
  sync:
    description:
      - Whether to trigger a schema sync (C(POST /api/database/{id}/sync_schema)) after the module
        created or changed the connection. The sync runs in the background; the module does not wait
        for it.
      - Metabase also starts a sync by itself after a create.
    type: bool
    default: false
  healthcheck:
    description:
      - After the run, ask Metabase whether it can connect with what it stores
        (C(GET /api/database/{id}/healthcheck), read-only, also in check mode) and return its answer
        as RV(healthcheck). The module does not fail when the answer is not V(ok); the caller decides.
      - Ignored with O(state=absent) and when the connection does not exist.
    type: bool
    default: false
  healthcheck_timeout:
    description:
      - With O(healthcheck), seconds to keep asking (every 2 seconds) while the answer is not V(ok),
        for example after a new password was sent. V(0) asks once. Not in check mode.
    type: int
    default: 0
  force_sync:
    description:
      - Trigger a schema sync on this run even when the connection did not change, because the
        tables or views of the database did (for example right after the analytics views were
        loaded or changed). Reports C(changed). In check mode nothing is triggered.
      - Ignored with O(state=absent).
    type: bool
    default: false
notes:
  - Metabase returns secrets in C(details) only as C(**MetabasePass**), so they cannot be compared;
    O(update_password) decides when they are sent.
  - Only an explicit list of keys is compared (O(name), O(engine), the keys the module sets in
    C(details), O(auto_run_queries)); fields that Metabase adds or computes are never compared.
  - Changing an existing connection sends only the details that differ. Metabase merges them into
    the stored details and keeps the stored password unless a new one is sent.
  - Connection schedules, caching and other settings are not managed by this module.
  - The no-op path costs one request with O(api_key) (the list of databases), three with O(username)
    and O(password) (login, list and logout).
seealso:
  - module: cronicorn.monitoring.metabase_setup
  - module: community.grafana.grafana_datasource
    description: The Grafana counterpart this module is modelled on.
  - name: Metabase API documentation
    description: Metabase's own description of its REST API.
    link: https://www.metabase.com/docs/latest/api
"""

EXAMPLES = r"""
- name: Register the Cronicorn database, URL and admin login given once for the whole action group
  module_defaults:
    group/cronicorn.monitoring.metabase:
      url: http://127.0.0.1:3030
      username: admin@example.com
      password: "{{ vault_metabase_admin_password }}"
  block:
    - name: Register the database with the read-only role
      cronicorn.monitoring.metabase_database:
        name: Cronicorn
        host: postgres
        port: 5432
        dbname: cronicorn
        db_user: metabase_readonly
        db_password: "{{ vault_metabase_readonly_password }}"
        details:
          schema-filters-type: all
          tunnel-enabled: true
          tunnel-host: bastion.example.com
          tunnel-user: metabase
        secret_details:
          tunnel-pass: "{{ vault_bastion_password }}"
        sync: true
      register: metabase_database_result

    - name: Show the id of the registered database
      ansible.builtin.debug:
        msg: "Cronicorn is database {{ metabase_database_result.id }} in Metabase"

    - name: Rotate the password of the read-only role in Metabase (reports changed on every run)
      cronicorn.monitoring.metabase_database:
        name: Cronicorn
        db_password: "{{ vault_metabase_readonly_password_new }}"
        update_password: always
      when: rotate_metabase_password | default(false) | bool

- name: Register a MySQL database through details, authenticating with an API key
  cronicorn.monitoring.metabase_database:
    url: https://metabase.example.com
    api_key: "{{ vault_metabase_api_key }}"
    name: Shop
    engine: mysql
    db_password: "{{ vault_shop_password }}"
    details:
      host: mysql.internal
      port: 3306
      dbname: shop
      user: metabase
      ssl: true
    auto_run_queries: false

- name: Remove a database connection
  cronicorn.monitoring.metabase_database:
    url: http://127.0.0.1:3030
    username: admin@example.com
    password: "{{ vault_metabase_admin_password }}"
    name: Old reporting copy
    state: absent
"""

RETURN = r"""
id:
  description:
    - Metabase id of the database connection; for O(state=absent) the id it had.
    - V(null) when it does not exist, or when check mode would create it.
  returned: always
  type: int
  sample: 2
database:
  description:
    - The connection as Metabase stores it after the run, without secrets. Empty when absent.
  returned: always
  type: dict
  contains:
    id:
      description: Metabase id.
      type: int
      sample: 2
    name:
      description: Display name.
      type: str
      sample: Cronicorn
    engine:
      description: Driver name.
      type: str
      sample: postgres
    details:
      description: Connection details, with every secret key left out.
      type: dict
      sample:
        host: postgres
        port: 5432
        dbname: cronicorn
        user: metabase_readonly
        ssl: false
    auto_run_queries:
      description: Whether queries run automatically.
      type: bool
      returned: when Metabase reports it
      sample: true
    initial_sync_status:
      description: State of the first sync after creation.
      type: str
      returned: when Metabase reports it
      sample: complete
  sample:
    id: 2
    name: Cronicorn
    engine: postgres
    details:
      host: postgres
      port: 5432
      dbname: cronicorn
      user: metabase_readonly
      ssl: false
    auto_run_queries: true
    initial_sync_status: incomplete
healthcheck:
  description:
    - Metabase's answer to C(GET /api/database/{id}/healthcheck), with O(healthcheck=true).
  returned: when O(healthcheck=true) and the connection exists
  type: dict
  sample:
    status: ok
sync_triggered:
  description:
    - Whether a schema sync was triggered (after a change with O(sync=true), or with O(force_sync=true);
      never in check mode).
  returned: always
  type: bool
  sample: true
diff:
  description: Compared keys before and after, secrets masked. Returned in diff mode.
  returned: when diff mode is on
  type: dict
  sample:
    before:
      name: Cronicorn
      engine: postgres
      details:
        host: postgres
        user: cronicorn
    after:
      name: Cronicorn
      engine: postgres
      details:
        host: postgres
        user: metabase_readonly
"""

from ansible.module_utils.basic import AnsibleModule, _load_params  # noqa: E402
from ansible.module_utils.common.text.converters import to_text  # noqa: E402
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase import (  # noqa: E402
    MASK,
    REDACTED,
    SENSITIVE_DETAIL_KEYS,
    MetabaseClient,
    MetabaseError,
    dry_run_exit,
    metabase_argument_spec,
)

#: Convenience option -> key in ``details``.
DETAIL_OPTIONS = (
    ("host", "host"),
    ("port", "port"),
    ("dbname", "dbname"),
    ("db_user", "user"),
    ("db_password", "password"),
    ("ssl", "ssl"),
)

#: Top-level keys the module sets and compares besides ``name``, ``engine`` and ``details``.
TOP_LEVEL_KEYS = ("auto_run_queries",)

#: ``update_password`` choice that sends secrets on every run.
ALWAYS = "always"

#: How a secret that ``update_password=always`` sends again shows in the diff.
MASK_RESENT = MASK + " (sent again)"

#: Keys of the returned ``database``.
RESULT_KEYS = ("id", "name", "engine", "details", "auto_run_queries", "initial_sync_status")

CREATE_HINTS = {
    400: "Metabase tested the connection with these details and refused it, or refused the details; "
    "nothing was registered",
    403: "only Metabase administrators can add databases",
}
UPDATE_HINTS = {
    400: "Metabase tested the connection with the new details and refused it; nothing was changed",
    403: "only Metabase administrators can change databases",
}
DELETE_HINTS = {403: "only Metabase administrators can delete databases"}


class ModuleFailure(Exception):
    """A problem with the options or with what Metabase holds, reported as it is."""


def is_sensitive(key, stored=None, secret_keys=()):
    """Whether a ``details`` key holds a secret: a known name, a key of ``secret_details``
    (``secret_keys``), or one whose value Metabase redacts."""
    return key in SENSITIVE_DETAIL_KEYS or key in secret_keys or stored == REDACTED


def secrets_in_details(details):
    """The known secret keys given in the free-form ``details`` (before any conversion)."""
    if isinstance(details, dict):
        return sorted(str(key) for key in details if str(key) in SENSITIVE_DETAIL_KEYS)
    if isinstance(details, str):  # key=value or JSON text, converted to a dict by Ansible later
        return sorted(key for key in SENSITIVE_DETAIL_KEYS if key in details)
    return []


def refuse_secrets_in_details(keys):
    raise ModuleFailure(
        "details holds the secret key%s %s, but details is not no_log: Ansible would write %s to logs. "
        "Hint: give the password in db_password and other secrets in secret_details, which Ansible masks."
        % ("s" if len(keys) > 1 else "", ", ".join(keys), "them" if len(keys) > 1 else "it")
    )


def build_details(params):
    """The ``details`` the module wants and its secret keys: ``details``, ``secret_details`` and the
    convenience options that are set. Returns ``(details, secret_keys)``."""
    keys = secrets_in_details(params.get("details"))
    if keys:
        refuse_secrets_in_details(keys)
    details, sources = {}, {}
    for option in ("details", "secret_details"):
        for given, value in (params.get(option) or {}).items():
            if value is None:
                continue
            key = str(given)
            if key in details:
                raise ModuleFailure(
                    "details.%s is given in both %s and %s; use only one of them" % (key, sources[key], option)
                )
            details[key], sources[key] = value, option
    for option, key in DETAIL_OPTIONS:
        value = params.get(option)
        if value is None:
            continue
        if key in details:
            raise ModuleFailure(
                "%s.%s and the option %s both set the same connection detail; use only one of them"
                % (sources[key], key, option)
            )
        details[key] = value
    secret_keys = frozenset(key for key, option in sources.items() if option == "secret_details")
    return details, secret_keys


def build_top_level(params):
    return dict((key, params[key]) for key in TOP_LEVEL_KEYS if params.get(key) is not None)


def _bool_text(value):
    return "true" if value else "false"


def values_equal(key, wanted, stored):
    """Compare one wanted value with the stored one, tolerating type noise from templating.

    ``ssl``: Metabase saves ``ssl: true`` when it could connect with SSL although false or nothing
    was asked for (opportunistic SSL at creation), so a wanted false accepts a stored true.
    """
    if key == "ssl" and stored is True and (wanted is False or _as_text(wanted) == "false"):
        return True
    if isinstance(wanted, bool) and isinstance(stored, bool):
        return wanted == stored
    if isinstance(wanted, bool) or isinstance(stored, bool):
        flag, other = (wanted, stored) if isinstance(wanted, bool) else (stored, wanted)
        return isinstance(other, str) and other.strip().lower() == _bool_text(flag)
    numbers = (int, float)
    if (isinstance(wanted, numbers) and isinstance(stored, str)) or (
        isinstance(stored, numbers) and isinstance(wanted, str)
    ):
        return str(wanted).strip() == str(stored).strip()
    return wanted == stored


def _as_text(value):
    if isinstance(value, bool):
        return _bool_text(value)
    return str(value).strip().lower()


def find_database(databases, name, engine):
    """The one connection named ``name`` with ``engine``; ``None`` when there is none.

    Returns ``(match, others)`` where ``others`` are connections with that name and another engine.
    Raises :class:`ModuleFailure` when several connections match.
    """
    named = [db for db in databases if isinstance(db, dict) and db.get("name") == name]
    matching = [db for db in named if db.get("engine") == engine]
    others = [db for db in named if db.get("engine") != engine]
    if len(matching) > 1:
        raise ModuleFailure(
            "Metabase has %d database connections named %r with engine %s (ids %s); the module cannot "
            "tell which one to manage. Hint: delete or rename the duplicates in Metabase."
            % (len(matching), name, engine, ", ".join(str(db.get("id")) for db in matching))
        )
    return (matching[0] if matching else None), others


def mask_details(details, secret_keys=()):
    """Details with every secret value replaced by the mask."""
    return dict((key, MASK if is_sensitive(key, value, secret_keys) else value) for key, value in details.items())


def public_database(database, secret_keys=()):
    """What the module returns about a connection: known keys, details without any secret (also a
    ``secret_details`` key that Metabase itself does not redact)."""
    if not isinstance(database, dict):
        return {}
    result = dict((key, database[key]) for key in RESULT_KEYS if key in database)
    if isinstance(database.get("details"), dict):
        result["details"] = dict(
            (key, value) for key, value in database["details"].items() if not is_sensitive(key, value, secret_keys)
        )
    return result


def create_payload(name, engine, details, top_level):
    payload = {"name": name, "engine": engine, "details": details}
    payload.update(top_level)
    return payload


def describe(name, engine, details, top_level, secret_keys=()):
    """The compared state, secrets masked: the shape of the diff."""
    state = {"name": name, "engine": engine, "details": mask_details(details, secret_keys)}
    state.update(top_level)
    return state


def plan_update(current, details, top_level, resend_secrets, secret_keys=()):
    """Compare the compared keys of ``current`` with the wanted ones.

    Returns ``(payload, before, after)``: ``payload`` is the body of ``PUT /api/database/{id}`` with
    only what differs (empty when nothing does); ``before``/``after`` are the compared keys with
    secrets masked.
    """
    stored_details = current.get("details")
    if details and not isinstance(stored_details, dict):
        raise ModuleFailure(
            "Metabase does not show the connection details of %r (id %s) to this user, so they cannot "
            "be compared. Hint: authenticate as a Metabase administrator." % (current.get("name"), current.get("id"))
        )
    stored_details = stored_details or {}
    before_details, after_details, changed_details, tolerated = {}, {}, {}, {}
    for key in sorted(details):
        wanted = details[key]
        stored = stored_details.get(key)
        if is_sensitive(key, stored, secret_keys):
            if resend_secrets:
                changed_details[key] = wanted
                before_details[key] = MASK if key in stored_details else None
                after_details[key] = MASK_RESENT
            continue
        before_details[key] = stored
        if values_equal(key, wanted, stored):
            after_details[key] = stored
            if wanted != stored:
                tolerated[key] = wanted
        else:
            after_details[key] = wanted
            changed_details[key] = wanted
    if changed_details and "ssl" in tolerated:
        # Writing anyway: send the wanted ssl too, so that a stored opportunistic ssl=true does not
        # make Metabase test the changed connection with SSL the caller did not ask for.
        changed_details["ssl"] = after_details["ssl"] = tolerated["ssl"]
    before = {"name": current.get("name"), "engine": current.get("engine"), "details": before_details}
    after = {"name": current.get("name"), "engine": current.get("engine"), "details": after_details}
    payload = {}
    if changed_details:
        payload["details"] = changed_details
    for key, wanted in sorted(top_level.items()):
        stored = current.get(key)
        before[key] = stored
        after[key] = wanted
        if not values_equal(key, wanted, stored):
            payload[key] = wanted
    return payload, before, after


def predicted(current, payload):
    """What Metabase will hold after ``PUT`` merges ``payload`` (for check mode)."""
    database = dict(current)
    if "details" in payload:
        details = dict(current.get("details") or {})
        details.update(payload["details"])
        database["details"] = details
    for key, value in payload.items():
        if key != "details":
            database[key] = value
    return database


def new_module(argument_spec):
    """The AnsibleModule, which logs nothing when ``details`` holds a secret.

    ``details`` is free-form and not no_log: a secret under a known key would reach the target's
    system log when AnsibleModule logs its invocation. So the raw arguments are looked at first
    (``_load_params``, meant for modules that must see their arguments early); such a run logs no
    invocation, masks the values in what it returns, and is refused by :func:`build_details`.
    """
    secret_keys = secrets_in_details((_load_params() or {}).get("details"))
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[("api_key", "username")],
        required_together=[("username", "password")],
        no_log=bool(secret_keys),
    )
    details = module.params.get("details")
    for key in secret_keys:
        if isinstance(details, dict) and details.get(key) is not None:
            module.no_log_values.add(to_text(details[key]))
    return module


def main():
    argument_spec = metabase_argument_spec()
    argument_spec.update(
        name=dict(type="str", required=True),
        engine=dict(type="str", default="postgres"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        host=dict(type="str"),
        port=dict(type="int"),
        dbname=dict(type="str"),
        db_user=dict(type="str"),
        db_password=dict(type="str", no_log=True),
        ssl=dict(type="bool"),
        details=dict(type="dict"),
        secret_details=dict(type="dict", no_log=True),
        update_password=dict(type="str", choices=["always", "on_create"], default="on_create", no_log=False),
        auto_run_queries=dict(type="bool"),
        sync=dict(type="bool", default=False),
        force_sync=dict(type="bool", default=False),
        healthcheck=dict(type="bool", default=False),
        healthcheck_timeout=dict(type="int", default=0),
    )
    module = new_module(argument_spec)
    params = module.params
    name, engine = params["name"], params["engine"]
    result = dict(changed=False, id=None, database={}, sync_triggered=False)

    try:
        details, secret_keys = build_details(params)
    except ModuleFailure as exc:
        module.fail_json(msg=str(exc), **result)
    top_level = build_top_level(params)
    module.secret_keys = secret_keys

    client = MetabaseClient.from_module(module)
    add_healthcheck_on_exit(module, client)
    for key, value in details.items():
        if is_sensitive(key, secret_keys=secret_keys) and isinstance(value, str):
            client.add_secret(value)

    try:
        current, others = find_database(client.list_databases(), name, engine)
        if current is not None and details and not isinstance(current.get("details"), dict):
            # Some versions leave details out of the list; the item itself carries them for admins.
            current = client.request("GET", "/api/database/%d" % current["id"])
            if not isinstance(current, dict):
                raise ModuleFailure("GET /api/database/{id} answered something other than a database object.")
        stored_details = current.get("details") if isinstance(current, dict) else None
        for key, value in details.items():
            # Driver secrets this module does not know by name show up redacted: mask them too.
            if isinstance(stored_details, dict) and stored_details.get(key) == REDACTED and isinstance(value, str):
                client.add_secret(value)
        if params["state"] == "absent":
            run_absent(module, client, current, others, result)
        elif current is None:
            run_create(module, client, (details, top_level), others, result)
        else:
            run_update(module, client, current, (details, top_level), result)
    except ModuleFailure as exc:
        module.fail_json(msg=str(exc), **result)
    except MetabaseError as exc:
        present = params["state"] == "present"
        would = "the connection %r would be %s" % (name, "registered" if present else "looked for and removed")
        dry_run_exit(module, exc, would, result, changed=present)
        module.fail_json(msg=exc.msg, status=exc.status, **result)


HEALTHCHECK_POLL = 2.0


def add_healthcheck_on_exit(module, client):
    """With ``healthcheck`` (and state present), make a successful exit first add Metabase's
    healthcheck of the connection (``result["id"]``)."""
    if not module.params["healthcheck"] or module.params["state"] != "present":
        return
    original_exit = module.exit_json

    def exit_json(**result):
        if result.get("id") is not None:
            try:
                result["healthcheck"] = healthcheck(client, result["id"], module.params, module.check_mode)
            except MetabaseError as exc:
                module.fail_json(msg=exc.msg, status=exc.status, **result)
        original_exit(**result)

    module.exit_json = exit_json


def healthcheck(client, database_id, params, check_mode):
    """``GET /api/database/{id}/healthcheck``, repeated while not ok within ``healthcheck_timeout``."""
    deadline = client._clock() + (0 if check_mode else max(0, params["healthcheck_timeout"] or 0))
    while True:
        answer = client.request("GET", "/api/database/%d/healthcheck" % database_id)
        if not isinstance(answer, dict):
            answer = {"status": "error", "message": "unexpected answer"}
        answer = dict((key, client.redact(value) if isinstance(value, str) else value) for key, value in answer.items())
        if answer.get("status") == "ok" or client._clock() >= deadline:
            return answer
        client._sleep(HEALTHCHECK_POLL)


def run_absent(module, client, current, others, result):
    if others and current is None:
        module.warn(
            "A database connection named %r exists with engine %s, not %s; it was left alone."
            % (
                module.params["name"],
                ", ".join(sorted(set(str(db.get("engine")) for db in others))),
                module.params["engine"],
            )
        )
    if current is None:
        if module._diff:
            result["diff"] = dict(before={}, after={})
        module.exit_json(**result)
    result["id"] = current.get("id")
    if module._diff:
        result["diff"] = dict(before=dict(name=current.get("name"), engine=current.get("engine")), after={})
    if not module.check_mode:
        client.request("DELETE", "/api/database/%d" % current["id"], hints=DELETE_HINTS)
    result["changed"] = True
    module.exit_json(**result)


def run_create(module, client, wanted, others, result):
    params = module.params
    details, top_level = wanted
    if others:
        raise ModuleFailure(
            "A database connection named %r already exists with engine %s (id %s), not %s. Hint: choose "
            "another name, or delete that connection first; the module does not change engines."
            % (params["name"], others[0].get("engine"), others[0].get("id"), params["engine"])
        )
    if module._diff:
        result["diff"] = dict(
            before={}, after=describe(params["name"], params["engine"], details, top_level, module.secret_keys)
        )
    if module.check_mode:
        result["changed"] = True
        result["database"] = public_database(
            dict(create_payload(params["name"], params["engine"], details, top_level), id=None), module.secret_keys
        )
        module.exit_json(**result)
    created = client.request(
        "POST",
        "/api/database/",
        body=create_payload(params["name"], params["engine"], details, top_level),
        idempotent=False,
        hints=CREATE_HINTS,
    )
    if not isinstance(created, dict) or not isinstance(created.get("id"), int):
        raise ModuleFailure("POST /api/database/ succeeded but the answer carries no database id.")
    result.update(changed=True, id=created["id"], database=public_database(created, module.secret_keys))
    finish(module, client, result)


def run_update(module, client, current, wanted, result):
    details, top_level = wanted
    secret_keys = module.secret_keys
    result.update(id=current.get("id"), database=public_database(current, secret_keys))
    payload, before, after = plan_update(
        current, details, top_level, module.params["update_password"] == ALWAYS, secret_keys
    )
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if not payload:
        if module.params["force_sync"]:  # the connection is as wanted, but what it shows changed
            result["changed"] = True
            if module.check_mode:
                module.exit_json(**result)
            finish(module, client, result, force=True)
        module.exit_json(**result)
    if module.check_mode:
        result.update(changed=True, database=public_database(predicted(current, payload), secret_keys))
        module.exit_json(**result)
    updated = client.request("PUT", "/api/database/%d" % current["id"], body=payload, hints=UPDATE_HINTS)
    result["changed"] = True
    if isinstance(updated, dict) and updated.get("id") == current["id"]:
        result["database"] = public_database(updated, secret_keys)
    else:
        result["database"] = public_database(predicted(current, payload), secret_keys)
    finish(module, client, result)


def finish(module, client, result, force=False):
    """After a write: trigger the schema sync when asked, then exit."""
    if module.params["sync"] or module.params["force_sync"] or force:
        try:
            client.request("POST", "/api/database/%d/sync_schema" % result["id"], idempotent=True)
        except MetabaseError as exc:
            module.fail_json(
                msg="The database connection was saved (id %s), but the schema sync could not be started: %s"
                % (result["id"], exc.msg),
                status=exc.status,
                **result,
            )
        result["sync_triggered"] = True
    module.exit_json(**result)


if __name__ == "__main__":
    main()

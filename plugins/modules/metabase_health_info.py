#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_health_info
short_description: Read whether Metabase is healthy, its version, and its healthcheck of one connection
version_added: 0.3.0
description:
  - Asks Metabase for its health (C(GET /api/health)), its version (C(GET /api/session/properties)) and,
    with O(database), whether that database connection is registered and whether Metabase can open a new
    connection with what it stores (C(GET /api/database/{id}/healthcheck)).
  - Made for diagnosis (C(playbooks/diagnose.yml)). What cannot be read is returned in RV(errors) instead
    of failing the task, so that a Metabase that is down, still starting or refusing the login is a
    finding of the run, not its end. The module fails only on invalid options.
  - Never changes anything. Requests are sent once, without retries.
author:
  - Cronicorn operations (@cronicorn)
extends_documentation_fragment:
  - cronicorn.monitoring.metabase
  - cronicorn.monitoring.metabase.actiongroup
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only reads; it behaves the same in check mode.
  diff_mode:
    support: N/A
    details:
      - The module changes nothing, so there is nothing to show.
  platform:
    platforms: all
options:
  database:
    description:
      - Name of a registered database connection, for example V(Cronicorn), to look up and healthcheck.
      - Needs the credentials of an administrator (O(api_key), or O(username) and O(password)).
      - Omitted means health and version only, without logging in.
    type: str
notes:
  - Set O(wait_timeout=0) to see Metabase as it is now; a positive value waits while it starts.
seealso:
  - module: cronicorn.monitoring.metabase_database
"""

EXAMPLES = r"""
- name: Ask Metabase how it is and whether it can reach the Cronicorn database
  cronicorn.monitoring.metabase_health_info:
    url: http://127.0.0.1:3030
    username: admin@example.com
    password: "{{ vault_metabase_admin_password }}"
    wait_timeout: 0
    database: Cronicorn
  register: metabase_health

- name: Fail when Metabase cannot connect
  ansible.builtin.assert:
    that:
      - metabase_health.database.healthcheck.status | default('') == 'ok'
"""

RETURN = r"""
reachable:
  description: Whether Metabase answered C(GET /api/health) with status V(ok).
  returned: always
  type: bool
  sample: true
health:
  description: The answer of C(GET /api/health) when it came with status 2xx, else an empty dict.
  returned: always
  type: dict
  sample: {status: ok}
version:
  description: The version tag Metabase reports, or null when it could not be read.
  returned: always
  type: str
  sample: v0.58.5
setup_done:
  description: Whether Metabase's first-run setup was done (an admin exists); null when unknown.
  returned: always
  type: bool
  sample: true
database:
  description:
    - The connection O(database). C(registered) says whether a connection of that name exists;
      C(id) and C(engine) are its own; C(healthcheck) is Metabase's answer to
      C(GET /api/database/{id}/healthcheck) (C(status) V(ok) or V(error), and a C(message)).
    - Null when O(database) is not given or the list of connections could not be read.
  returned: always
  type: dict
  sample: {name: Cronicorn, registered: true, id: 2, engine: postgres, healthcheck: {status: ok}}
errors:
  description:
    - What could not be read, one message per request that failed (status and Metabase's own message,
      never credentials). Empty when everything was read.
  returned: always
  type: list
  elements: str
  sample: ["GET /api/health failed: connection error: [Errno 111] Connection refused"]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase import (  # noqa: E402
    MetabaseClient,
    MetabaseError,
    metabase_argument_spec,
)


def find_connection(databases, name):
    """The connection called ``name`` in ``GET /api/database/``'s list, or None."""
    for database in databases:
        if isinstance(database, dict) and database.get("name") == name:
            return database
    return None


def version_tag(properties):
    """``version.tag`` of the session properties, or None."""
    version = properties.get("version") if isinstance(properties, dict) else None
    tag = version.get("tag") if isinstance(version, dict) else None
    return tag if isinstance(tag, str) and tag else None


def read_database(client, name, result):
    """Look ``name`` up and ask Metabase to healthcheck it; errors go to ``result["errors"]``."""
    try:
        found = find_connection(client.list_databases(), name)
    except MetabaseError as exc:
        result["errors"].append(exc.msg)
        return
    database = dict(name=name, registered=found is not None, id=None, engine=None, healthcheck=None)
    result["database"] = database
    if found is None:
        return
    database["id"], database["engine"] = found.get("id"), found.get("engine")
    try:
        answer = client.request("GET", "/api/database/%d/healthcheck" % found["id"])
    except MetabaseError as exc:
        result["errors"].append(exc.msg)
        return
    database["healthcheck"] = answer if isinstance(answer, dict) else {"status": "error", "message": str(answer)}


def read_health(client, params):
    """Everything the module returns, read in order; stops where Metabase stops answering."""
    result = dict(changed=False, reachable=False, health={}, version=None, setup_done=None, database=None, errors=[])
    try:
        health = client.request("GET", "/api/health", auth=False)
    except MetabaseError as exc:
        result["errors"].append(exc.msg)
        return result
    result["health"] = health if isinstance(health, dict) else {"status": str(health)}
    result["reachable"] = result["health"].get("status") == "ok"
    if not result["reachable"]:
        result["errors"].append("GET /api/health answered %s" % (result["health"],))
        return result
    try:
        properties = client.session_properties()
    except MetabaseError as exc:
        result["errors"].append(exc.msg)
    else:
        result["version"] = version_tag(properties)
        setup = properties.get("has-user-setup")
        result["setup_done"] = setup if isinstance(setup, bool) else None
    if params["database"]:
        read_database(client, params["database"], result)
    return result


def main():
    argument_spec = metabase_argument_spec()
    argument_spec.update(database=dict(type="str"))
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_together=[("username", "password")],
    )
    if module.params["database"] and not (module.params["api_key"] or module.params["username"]):
        module.fail_json(msg="database needs the credentials of an administrator: api_key, or username and password")
    client = MetabaseClient.from_module(module, max_retries=0)
    module.exit_json(**read_health(client, module.params))


if __name__ == "__main__":
    main()

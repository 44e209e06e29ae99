#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_api_key
short_description: Create a Metabase API key once and keep it in a file
version_added: 0.3.0
description:
  - Manages one API key (Metabase 49 and later) by O(name), in the permission group O(group).
  - Metabase shows a key only in the answer that creates (or regenerates) it. The module writes it then
    to O(key_file) with mode C(0600) on the host the module runs on (use C(delegate_to) for the
    controller) and never returns it; later runs check that the file holds this key (its prefix) and
    change nothing.
  - When the key exists but the file is missing or holds another key, the module fails unless
    O(regenerate=true), which makes Metabase issue a new key (the old one stops working) and writes it.
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
      - In check mode nothing is written, neither to Metabase nor to O(key_file).
  diff_mode:
    details:
      - The diff holds the name and the group; never the key.
  platform:
    platforms: posix
options:
  name:
    description: Name of the key in Metabase.
    type: str
    required: true
  group:
    description: Name of the permission group the key acts in (for example V(Administrators)).
    type: str
    default: Administrators
  key_file:
    description:
      - Where the key is written (mode C(0600)) when it is created or regenerated. Required with O(state=present).
    type: path
  regenerate:
    description: Issue a new key when O(key_file) is missing or does not hold the key.
    type: bool
    default: false
  state:
    description: V(present) creates the key; V(absent) deletes it (Metabase deactivates its user).
    type: str
    choices: [present, absent]
    default: present
notes:
  - The key is never returned, logged or shown in a diff; keep O(key_file) safe (vault it afterwards).
seealso:
  - module: cronicorn.monitoring.metabase_group
"""

EXAMPLES = r"""
- name: An API key for the next runs, kept on the controller
  cronicorn.monitoring.metabase_api_key:
    url: http://127.0.0.1:3030
    username: admin@example.com
    password: "{{ vault_metabase_admin_password }}"
    name: cronicorn-ansible
    group: Administrators
    key_file: "{{ inventory_dir }}/metabase_api_key"
  delegate_to: localhost
"""

RETURN = r"""
api_key:
  description: Id, name, group and the masked key (never the key itself); empty when absent.
  returned: always
  type: dict
  sample: {id: 1, name: cronicorn-ansible, group: Administrators, masked_key: "mb_AbCd****"}
key_written:
  description: Whether a key was written to O(key_file) (or would be, in check mode).
  returned: always
  type: bool
"""

import os  # noqa: E402
import tempfile  # noqa: E402

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_access import (  # noqa: E402
    find_group,
    list_groups,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (  # noqa: E402
    Change,
    MetabaseModule,
    ResourceError,
    unknown_name_error,
)

PREFIX_LENGTH = 7


def read_prefix(path):
    """The first characters of the key in ``path`` (``None`` when there is no such file)."""
    try:
        with open(path, "r") as handle:
            return handle.read().strip()[:PREFIX_LENGTH] or None
    except (IOError, OSError):
        return None


def write_key(path, key):
    """Write ``key`` to ``path`` atomically, mode 0600 from the start."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".metabase_api_key.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _prefix(key_row):
    return key_row.get("prefix") or str(key_row.get("masked_key") or "")[:PREFIX_LENGTH]


def _shown(key_row, group_name):
    return dict(id=key_row.get("id"), name=key_row.get("name"), group=group_name, masked_key=key_row.get("masked_key"))


def _issue(ctx, method, path, body):
    answer = ctx.client.request(method, path, body=body, idempotent=False)
    key = answer.get("unmasked_key") if isinstance(answer, dict) else None
    if not key:
        raise ResourceError("%s %s succeeded but the answer carries no key." % (method, path))
    ctx.client.add_secret(key)
    ctx.module.no_log_values.add(key)
    write_key(ctx.params["key_file"], key)
    return answer


def run(ctx):  # noqa: PLR0912 - one branch per case of a key that Metabase shows only once
    params = ctx.params
    keys = ctx.client.request("GET", "/api/api-key/")
    if not isinstance(keys, list):
        raise ResourceError("GET /api/api-key/ answered something other than a list of keys.")
    current = next((k for k in keys if isinstance(k, dict) and k.get("name") == params["name"]), None)
    header = "api key %s" % params["name"]
    ctx.result.update(api_key={}, key_written=False)
    if params["state"] == "absent":
        change = Change("delete" if current else "none", None, dict(name=params["name"]) if current else {}, {})
        if current and not ctx.check_mode:
            ctx.client.request("DELETE", "/api/api-key/%d" % current["id"])
    else:
        if not params.get("key_file"):
            raise ResourceError("key_file is required with state=present: Metabase shows a key only once.")
        groups = list_groups(ctx.client)
        group = find_group(groups, params["group"])
        if group is None:
            raise unknown_name_error("group", params["group"], [g.get("name") for g in groups])
        after = dict(name=params["name"], group=params["group"])
        if current is None:
            change = Change("create", None, {}, after)
            if not ctx.check_mode:
                change.obj = _issue(ctx, "POST", "/api/api-key/", dict(name=params["name"], group_id=group["id"]))
            ctx.result["key_written"] = True
        else:
            current_group = (current.get("group") or {}).get("name")
            before = dict(name=params["name"], group=current_group)
            change = Change("none", current, before, after)
            if current_group != params["group"]:
                change.action = "update"
                if not ctx.check_mode:
                    ctx.client.request("PUT", "/api/api-key/%d" % current["id"], body=dict(group_id=group["id"]))
            if read_prefix(params["key_file"]) != _prefix(current):
                if not params["regenerate"]:
                    raise ResourceError(
                        "The API key %r exists but %s does not hold it, and Metabase shows a key only once. "
                        "Hint: restore the file, or set regenerate: true to issue a new key (the old one stops "
                        "working)." % (params["name"], params["key_file"])
                    )
                change.action = "update"
                ctx.result["key_written"] = True
                if not ctx.check_mode:
                    change.obj = _issue(ctx, "PUT", "/api/api-key/%d/regenerate" % current["id"], None)
        ctx.result["api_key"] = _shown(change.obj or dict(name=params["name"]), params["group"])
    change.header = header
    ctx.changes.append(change)
    if ctx.diff_mode:
        ctx.result["diff"] = change.diff


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        group=dict(type="str", default="Administrators"),
        key_file=dict(type="path", no_log=False),
        regenerate=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    MetabaseModule(argument_spec).run(run)


if __name__ == "__main__":
    main()

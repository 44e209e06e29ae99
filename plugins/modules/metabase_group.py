#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_group
short_description: Create or delete a Metabase permission group and manage its members
version_added: 0.3.0
description:
  - Manages one permission group through the REST API, identified by its O(name).
  - With O(members), the listed people (by email) are added to the group; with
    O(members_exclusive=true) members not listed are removed.
  - Metabase's own groups (All Users, Administrators) are never created or deleted; All Users always
    holds everyone. Membership of Administrators makes a person a superuser.
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
      - In check mode the module reads from Metabase but never writes.
  diff_mode:
    details:
      - The diff holds the group's name and, with O(members), the member emails.
options:
  name:
    description:
      - Name of the group (compared exactly; Metabase refuses two groups whose names differ only in case).
    type: str
    required: true
  members:
    description:
      - Emails of people who belong to the group. They must exist and be active (see
        M(cronicorn.monitoring.metabase_user)).
      - When not given, membership is not managed.
    type: list
    elements: str
  members_exclusive:
    description:
      - Remove the members that O(members) does not list.
    type: bool
    default: false
  state:
    description:
      - V(present) creates the group; V(absent) deletes it (its permissions go with it; people stay).
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: cronicorn.monitoring.metabase_user
  - module: cronicorn.monitoring.metabase_permissions
"""

EXAMPLES = r"""
- name: The admin team's group, exactly these people
  cronicorn.monitoring.metabase_group:
    url: http://127.0.0.1:3030
    api_key: "{{ vault_metabase_api_key }}"
    name: Cronicorn Admins
    members: [ada@example.com, grace@example.com]
    members_exclusive: true
"""

RETURN = r"""
group:
  description: The group after the run (id -1 for a group check mode would create); empty when absent.
  returned: always
  type: dict
  sample: {id: 5, name: Cronicorn Admins}
removed:
  description:
    - Emails of the members removed by O(members_exclusive) (or that check mode would remove), for example
      to deactivate the people who left the team.
  returned: always
  type: list
  elements: str
  sample: [former@example.com]
diff:
  description: Before and after, one entry per change (the group, its members).
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before: {members: [ada@example.com]}
      after: {members: [ada@example.com, grace@example.com]}
      before_header: members of group Cronicorn Admins
      after_header: members of group Cronicorn Admins
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_access import ensure_group  # noqa: E402
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (  # noqa: E402
    MetabaseModule,
    state_argument_spec,
)


def run(ctx):
    params = ctx.params
    group, changes = ensure_group(
        ctx.client,
        params["name"],
        params["state"],
        ctx.check_mode,
        members=params.get("members"),
        members_exclusive=params["members_exclusive"],
    )
    ctx.changes.extend(changes)
    ctx.result["group"] = dict(id=group["id"], name=group["name"]) if group else {}
    ctx.result["removed"] = sorted(set(email for change in changes for email in getattr(change, "removed", [])))
    if ctx.diff_mode:
        ctx.result["diff"] = [change.diff for change in changes]


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        members=dict(type="list", elements="str"),
        members_exclusive=dict(type="bool", default=False),
    )
    argument_spec.update(state_argument_spec())
    MetabaseModule(argument_spec).run(run)


if __name__ == "__main__":
    main()

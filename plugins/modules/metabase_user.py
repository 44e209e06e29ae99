#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_user
short_description: Create, update, deactivate or reactivate a Metabase user given by email
version_added: 0.3.0
description:
  - Manages one person's Metabase account through the REST API, identified by O(email) (compared
    without case), with the names, the superuser flag and the groups the person belongs to.
  - O(state=absent) deactivates the account (C(DELETE /api/user/{id})); Metabase never deletes
    users, so their questions and dashboards stay. A deactivated person cannot log in.
  - A deactivated person listed with O(state=present) is reactivated. Metabase's reactivation
    clears the superuser flag, so the module writes it again right after (O(superuser), or what the
    person had before the deactivation when O(superuser) is not given).
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
      - The diff holds the compared keys (email, names, superuser, groups, active); never O(initial_password).
options:
  email:
    description:
      - Email address of the person; the natural key (compared without case).
    type: str
    required: true
  first_name:
    description:
      - First name. Compared and set only when given.
    type: str
  last_name:
    description:
      - Last name. Compared and set only when given.
    type: str
  superuser:
    description:
      - Whether the person is a Metabase administrator (a member of Administrators).
      - When not given, left as it is (and restored as it was on reactivation).
    type: bool
  groups:
    description:
      - Names of the groups the person belongs to, besides All Users (everyone) and Administrators
        (see O(superuser)); both are ignored when listed.
      - When given, the person is removed from the other groups unless O(append_groups=true).
      - An unknown group name fails the module and names close matches.
    type: list
    elements: str
  append_groups:
    description:
      - Only add the person to O(groups); never remove them from other groups.
    type: bool
    default: false
  initial_password:
    description:
      - Password set when the account is created, and only then; never compared or changed later
        (Metabase keeps no readable copy to compare with).
      - Without it Metabase sets a random password and the person uses "forgot password" or SSO (an
        invitation; the invitation email needs SMTP).
    type: str
  state:
    description:
      - V(present) creates, updates or reactivates the account; V(absent) deactivates it.
    type: str
    choices: [present, absent]
    default: present
notes:
  - O(initial_password) is only sent when the account is created; it never appears in the result or diff.
  - Users are listed with C(GET /api/user/?status=all), so deactivated accounts are found too.
seealso:
  - module: cronicorn.monitoring.metabase_group
  - module: cronicorn.monitoring.metabase_permissions
"""

EXAMPLES = r"""
- name: Metabase accounts of the admin team
  module_defaults:
    group/cronicorn.monitoring.metabase:
      url: http://127.0.0.1:3030
      api_key: "{{ vault_metabase_api_key }}"
  block:
    - name: An analyst in the admin team's group
      cronicorn.monitoring.metabase_user:
        email: grace@example.com
        first_name: Grace
        last_name: Hopper
        superuser: false
        groups: [Cronicorn Admins]

    - name: Someone who left
      cronicorn.monitoring.metabase_user:
        email: former@example.com
        state: absent
"""

RETURN = r"""
user:
  description: The account after the run (predicted in check mode, a new account having id -1); empty when absent.
  returned: always
  type: dict
  contains:
    id:
      description: Metabase id.
      type: int
      sample: 7
    email:
      description: Email address.
      type: str
      sample: grace@example.com
    first_name:
      description: First name.
      type: str
      sample: Grace
    last_name:
      description: Last name.
      type: str
      sample: Hopper
    superuser:
      description: Whether the person is an administrator.
      type: bool
      sample: false
    groups:
      description: Groups besides All Users and Administrators.
      type: list
      elements: str
      sample: [Cronicorn Admins]
    active:
      description: Whether the account is active.
      type: bool
      sample: true
action:
  description: What was done (or would be in check mode).
  returned: always
  type: str
  choices: [none, create, update, reactivate, deactivate]
  sample: reactivate
diff:
  description: Compared keys before and after.
  returned: when diff mode is on
  type: dict
  sample:
    before: {email: grace@example.com, superuser: false, groups: [], active: false}
    after: {email: grace@example.com, superuser: false, groups: [Cronicorn Admins], active: true}
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_access import (  # noqa: E402
    ensure_user,
    list_groups,
    public_user,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (  # noqa: E402
    MetabaseModule,
    state_argument_spec,
)


def run(ctx):
    change = ensure_user(ctx.client, ctx.params, ctx.check_mode)
    ctx.changes.append(change)
    ctx.result["action"] = change.action
    if change.action == "deactivate" or not change.obj:
        ctx.result["user"] = {}
    elif ctx.check_mode or change.obj.get("id", -1) < 0:
        shown = dict(change.after)
        shown["id"] = change.obj.get("id")
        ctx.result["user"] = shown
    else:
        ctx.result["user"] = (
            public_user(change.obj, list_groups(ctx.client))
            if change.changed
            else dict(change.after, id=change.obj["id"])
        )
    if ctx.diff_mode:
        ctx.result["diff"] = change.diff


def main():
    argument_spec = dict(
        email=dict(type="str", required=True),
        first_name=dict(type="str"),
        last_name=dict(type="str"),
        superuser=dict(type="bool"),
        groups=dict(type="list", elements="str"),
        append_groups=dict(type="bool", default=False),
        initial_password=dict(type="str", no_log=True),
    )
    argument_spec.update(state_argument_spec())
    MetabaseModule(argument_spec).run(run)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_collection
short_description: Create, describe or archive a Metabase collection given by its path
version_added: 0.2.0
description:
  - Manages one collection (a folder of questions and dashboards) through the Metabase REST API,
    identified by its O(path) from the root collection ("Our analytics"), for example
    V(Cronicorn Admin/Operations).
  - Missing ancestors are created on the way. Only the last collection of the path gets O(description).
  - O(state=absent) archives the collection (moves it to the Trash with its content); it is never
    deleted for good.
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
      - The diff holds the compared keys only (O(description)), one entry per collection created or changed.
options:
  path:
    description:
      - Path of the collection from the root collection, names separated by C(/), for example
        V(Cronicorn Admin/Operations). Names that contain C(/) cannot be addressed.
      - Personal collections and archived collections are never matched; a path that only exists in
        the Trash is created anew.
      - Two collections with the same name under one parent make the module fail instead of guessing.
    type: str
    required: true
    aliases: [name]
  description:
    description:
      - Description of the collection. Compared and set only when given; V("") removes it.
    type: str
  state:
    description:
      - V(present) creates the collection (and missing ancestors) or updates its description.
      - V(absent) archives the last collection of the path when it exists; ancestors are left alone.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Every update sends C(archived) explicitly, because C(PUT /api/collection/{id}) treats a missing
    C(archived) as V(false) and would restore an archived collection.
  - The no-op path costs one request with O(api_key) (the list of collections); with O(username) and
    O(password) also the login and the logout.
seealso:
  - module: cronicorn.monitoring.metabase_card
  - module: cronicorn.monitoring.metabase_dashboard
  - module: cronicorn.monitoring.metabase_info
"""

EXAMPLES = r"""
- name: Collections of the admin team
  module_defaults:
    group/cronicorn.monitoring.metabase:
      url: http://127.0.0.1:3030
      username: admin@example.com
      password: "{{ vault_metabase_admin_password }}"
  block:
    - name: The admin team's collection
      cronicorn.monitoring.metabase_collection:
        path: Cronicorn Admin
        description: Dashboards of the Cronicorn admin team, kept by Ansible

    - name: A nested collection (Cronicorn Admin is created too when missing)
      cronicorn.monitoring.metabase_collection:
        path: Cronicorn Admin/Operations

    - name: Archive a collection that is no longer wanted
      cronicorn.monitoring.metabase_collection:
        path: Cronicorn Admin/Old reports
        state: absent
"""

RETURN = r"""
collection:
  description:
    - The collection after the run (predicted in check mode, where a new collection has a negative id).
    - Empty when it does not exist or was archived.
  returned: always
  type: dict
  contains:
    id:
      description: Metabase id.
      type: int
      sample: 12
    name:
      description: Name (the last part of the path).
      type: str
      sample: Operations
    path:
      description: The path from the root collection.
      type: str
      sample: Cronicorn Admin/Operations
    description:
      description: Description.
      type: str
      sample: Operational dashboards
    location:
      description: Metabase's location of the collection (ids of its ancestors).
      type: str
      sample: /11/
created:
  description: Paths of the collections created (or that check mode would create), ancestors first.
  returned: always
  type: list
  elements: str
  sample: [Cronicorn Admin, Cronicorn Admin/Operations]
diff:
  description: Compared keys before and after, one entry per collection created or changed.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before: {}
      after: {description: Operational dashboards}
      before_header: collection Cronicorn Admin/Operations
      after_header: collection Cronicorn Admin/Operations
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_content import (  # noqa: E402
    CollectionResource,
    public_collection,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (  # noqa: E402
    MetabaseModule,
    state_argument_spec,
)


def run(ctx):
    params = ctx.params
    collections = ctx.resource(CollectionResource)
    collection, changes = collections.ensure_path(params["path"], params.get("description"), params["state"])
    ctx.changes.extend(changes)
    result = ctx.result
    result["created"] = [change.header.split(" ", 1)[1] for change in changes if change.action == "create"]
    result["collection"] = public_collection(collection) if collection and collection.get("id") else {}
    if ctx.diff_mode:
        result["diff"] = [change.diff for change in changes] or [dict(before={}, after={})]


def main():
    argument_spec = dict(
        path=dict(type="str", required=True, aliases=["name"]),
        description=dict(type="str"),
    )
    argument_spec.update(state_argument_spec())
    MetabaseModule(argument_spec).run(run)


if __name__ == "__main__":
    main()

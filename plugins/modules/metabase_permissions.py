#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_permissions
short_description: Set a Metabase group's data permissions per database and its collection permissions
version_added: 0.3.0
description:
  - Sets, for one O(group), the data permissions on databases (view data, create queries, download)
    and the access to collections (read, write, none), through Metabase's two permission graphs.
  - Only the listed databases and collections, and only the listed permission types, are compared
    and written; everything else is left as it is.
  - The graphs are sparse (a permission Metabase leaves out is the least permissive value). The module
    writes only the entries that differ, with the graph revision it read. When Metabase answers 409
    because someone else changed the graph meanwhile, the module reads it again, compares again and
    retries; it never uses C(force).
  - Values the edition does not offer (for example O(databases[].view_data=blocked) on the
    open-source edition) fail with Metabase's own message.
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
      - In check mode the module reads both graphs but never writes.
  diff_mode:
    details:
      - The diff holds the compared permissions per database name and collection path.
options:
  group:
    description:
      - Name of the group, for example V(All Users) or V(Cronicorn Admins).
      - Administrators always have every permission in Metabase and cannot be changed.
    type: str
    required: true
  databases:
    description:
      - Data permissions of the group, one entry per database.
    type: list
    elements: dict
    default: []
    suboptions:
      database:
        description: Display name of the database in Metabase.
        type: str
        required: true
      view_data:
        description:
          - V(unrestricted) or V(blocked) (a paid feature), or V(legacy-no-self-service).
          - Query access (O(databases[].create_queries) other than V(no)) needs V(unrestricted); Metabase sets it.
        type: str
        choices: [unrestricted, legacy-no-self-service, blocked]
      create_queries:
        description: V(query-builder-and-native) (SQL too), V(query-builder) or V(no).
        type: str
        choices: [query-builder-and-native, query-builder, "no"]
      download:
        description: V(full), V(limited) (10 000 rows) or V(none).
        type: str
        choices: [full, limited, none]
  collections:
    description:
      - Collection permissions of the group, one entry per collection.
    type: list
    elements: dict
    default: []
    suboptions:
      collection:
        description:
          - Path of the collection from the root, names separated by C(/); V(/) or V("") is the root
            collection ("Our analytics").
        type: str
        required: true
      access:
        description: V(write) (curate), V(read) (view) or V(none) (no access).
        type: str
        required: true
        choices: [write, read, none]
notes:
  - Access to a collection lets people run its saved questions even without query access to the
    database; on the open-source edition, PostgreSQL's grants to the role Metabase connects with are
    the only limit on what such questions can read.
seealso:
  - module: cronicorn.monitoring.metabase_group
  - module: cronicorn.monitoring.metabase_user
"""

EXAMPLES = r"""
- name: Only the admin team may query Cronicorn and read its content
  module_defaults:
    group/cronicorn.monitoring.metabase:
      url: http://127.0.0.1:3030
      api_key: "{{ vault_metabase_api_key }}"
  block:
    - name: All Users get nothing
      cronicorn.monitoring.metabase_permissions:
        group: All Users
        databases:
          - {database: Cronicorn, create_queries: "no", download: none}
        collections:
          - {collection: Cronicorn Admin, access: none}

    - name: The admin team's group
      cronicorn.monitoring.metabase_permissions:
        group: Cronicorn Admins
        databases:
          - {database: Cronicorn, view_data: unrestricted, create_queries: query-builder-and-native, download: full}
        collections:
          - {collection: Cronicorn Admin, access: read}
"""

RETURN = r"""
databases:
  description: The compared data permissions per database name after the run (predicted in check mode).
  returned: always
  type: dict
  sample: {Cronicorn: {view_data: unrestricted, create_queries: "no", download: none}}
collections:
  description: The compared collection access per collection path after the run.
  returned: always
  type: dict
  sample: {Cronicorn Admin: none}
conflicts:
  description: How many times Metabase answered 409 and the module read the graph again.
  returned: always
  type: int
  sample: 0
diff:
  description: Before and after of the data and of the collection permissions.
  returned: when diff mode is on
  type: list
  elements: dict
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_access import (  # noqa: E402
    find_group,
    list_groups,
    plan_collections,
    plan_data,
    write_graph,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (  # noqa: E402
    ROOT_PATHS,
    Change,
    MetabaseModule,
    ResourceError,
    unknown_name_error,
)


def _data(ctx, group):
    wanted, names = {}, {}
    for entry in ctx.params["databases"]:
        database = ctx.lookup.database(entry["database"])
        names[database["id"]] = entry["database"]
        wanted[database["id"]] = dict((k, entry.get(k)) for k in ("view_data", "create_queries", "download"))
    if not wanted:
        return 0
    paths = ("/api/permissions/graph/group/%d" % group["id"], "/api/permissions/graph")
    change, conflicts = _ensure_graph(ctx, group, wanted, names, plan_data, paths, "data")
    ctx.result["databases"] = change.after
    return conflicts


def _collections(ctx, group):
    wanted, names = {}, {}
    for entry in ctx.params["collections"]:
        path = entry["collection"]
        key = "root" if path in ROOT_PATHS else str(ctx.lookup.collection_id(path))
        names[key] = "/" if key == "root" else path
        wanted[key] = entry["access"]
    if not wanted:
        return 0
    paths = ("/api/collection/graph", "/api/collection/graph")
    change, conflicts = _ensure_graph(ctx, group, wanted, names, plan_collections, paths, "collection")
    ctx.result["collections"] = change.after
    return conflicts


def _ensure_graph(ctx, group, wanted, names, planner, paths, what):  # noqa: PLR0917
    """Read a permissions graph (``paths``: where to read it, where to write it), plan the group's ``wanted``
    entries with ``planner``, and write only those that differ. Returns the :class:`Change` (keys named by
    ``names``) and the number of conflicts :func:`write_graph` retried."""
    read_path, write_path = paths

    def read():
        return ctx.client.request("GET", read_path)

    def plan(graph):
        before, after, entries = planner(graph, group["id"], wanted)
        return before, after, {str(group["id"]): entries} if entries else {}

    before, after, written, conflicts = write_graph(ctx.client, read, plan, write_path, ctx.check_mode)
    change = Change("update" if written else "none", group, _named(before, names), _named(after, names))
    change.header = "%s permissions of %s" % (what, group["name"])
    ctx.changes.append(change)
    return change, conflicts


def _named(values, names):
    return dict((names[key], value) for key, value in values.items())


def run(ctx):
    groups = list_groups(ctx.client)
    group = find_group(groups, ctx.params["group"])
    if group is None:
        raise unknown_name_error("group", ctx.params["group"], [g.get("name") for g in groups])
    if group["id"] == 2 or group.get("magic_group_type") == "admin":
        raise ResourceError("Administrators always have every permission in Metabase; their permissions cannot be set.")
    ctx.result.update(databases={}, collections={})
    conflicts = _data(ctx, group) + _collections(ctx, group)
    ctx.result["conflicts"] = conflicts
    if ctx.diff_mode:
        ctx.result["diff"] = [change.diff for change in ctx.changes] or [dict(before={}, after={})]


def main():
    argument_spec = dict(
        group=dict(type="str", required=True),
        databases=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                database=dict(type="str", required=True),
                view_data=dict(type="str", choices=["unrestricted", "legacy-no-self-service", "blocked"]),
                create_queries=dict(type="str", choices=["query-builder-and-native", "query-builder", "no"]),
                download=dict(type="str", choices=["full", "limited", "none"]),
            ),
        ),
        collections=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                collection=dict(type="str", required=True),
                access=dict(type="str", required=True, choices=["write", "read", "none"]),
            ),
        ),
    )
    MetabaseModule(argument_spec).run(run)


if __name__ == "__main__":
    main()

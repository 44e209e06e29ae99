#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_card
short_description: Create, update or archive a Metabase question (card) given by names
version_added: 0.2.0
description:
  - Manages one saved question (a "card") through the Metabase REST API, identified by its O(name)
    in a O(collection).
  - The question is either native SQL (O(native)) or a simple question of the query builder
    (O(query)) with a source table, columns, aggregations, breakouts, filters, sort and limit, all
    given by name. Tables and columns are resolved from Metabase's metadata of O(database); an unknown
    name fails with a message that names it and lists close matches. Definitions carry no numeric ids.
  - Since v0.57 Metabase returns queries as MBQL 5, with a fresh C(lib/uuid) on every clause, and
    converts the MBQL 4 it is sent. The module reads both versions into one canonical form (names,
    no uuids) and writes only when that form differs, so a second run changes nothing.
  - A card archived or deleted by hand is created again.
  - O(state=absent) archives the card (moves it to the Trash).
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
      - In check mode the module reads from Metabase but never writes. Missing collections are
        reported as created.
  diff_mode:
    details:
      - The diff holds the compared keys only, in the option form (names, no ids).
options:
  name:
    description:
      - Name of the question. With O(collection) it identifies the card.
    type: str
    required: true
  collection:
    description:
      - Path of the collection that holds the question, for example V(Cronicorn Admin/Operations).
        Missing collections are created.
      - Empty or omitted means the root collection ("Our analytics").
    type: str
  database:
    description:
      - Display name of the database the question queries, as registered in Metabase (see
        M(cronicorn.monitoring.metabase_database)). Required with O(state=present).
    type: str
  native:
    description:
      - >-
        A native (SQL) question, mutually exclusive with O(query).
      - >-
        C(query) is the SQL text (required).
      - >-
        C(template_tags) maps each variable of the SQL (C({{name}})) to its definition; every
        variable used must be declared. A definition has C(type) (V(text), V(number), V(date),
        V(boolean) or V(dimension); default V(text)), C(display_name) (default from the name),
        C(required), C(default); a V(dimension) (field filter) tag also has C(dimension), the column
        as C(schema.table.column), and C(widget_type) (default V(category), for example V(string/=)).
    type: dict
  query:
    description:
      - >-
        A simple question of the query builder, mutually exclusive with O(native).
      - >-
        C(source_table) is the table or view as C(schema.table) or C(table) (required).
      - >-
        C(fields) lists the columns to show (raw rows); omitted means all.
      - >-
        C(aggregations) lists V(count) or one-key mappings C({sum: column}), C({avg: column}),
        C({distinct: column}), C({min: column}), C({max: column}), C({count: column}).
      - >-
        C(breakouts) lists columns to group by, or C({column: name, unit: week}) with a temporal
        unit (V(minute), V(hour), V(day), V(week), V(month), V(quarter), V(year), V(day-of-week), ...).
      - >-
        C(filters) lists C({column, operator, value}), all of which must hold. Operators V(=) and V(!=)
        (one value or a list), V(<), V(<=), V(>), V(>=), V(between) (two values), V(is-null),
        V(not-null) (no value), V(contains), V(does-not-contain), V(starts-with), V(ends-with),
        V(time-interval) (value C([-30, day])).
      - >-
        C(order_by) lists column names (ascending), C({column, direction}) or
        C({aggregation: N, direction}) where N is the position of an aggregation, from 0.
      - >-
        C(limit) is the maximum number of rows.
      - >-
        Columns are columns of the source table.
    type: dict
  display:
    description:
      - How the question is shown, for example V(table), V(scalar), V(bar), V(line), V(pie), V(row).
    type: str
    default: table
  visualization_settings:
    description:
      - Metabase's visualization settings of the question, as Metabase stores them (for example
        C(graph.dimensions), C(graph.metrics)). Compared and set only when given.
    type: dict
  description:
    description:
      - Description of the question. Compared and set only when given; V("") removes it.
    type: str
  state:
    description:
      - V(present) creates or updates the question; V(absent) archives it.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Compared keys are O(database), O(native) or O(query) in canonical form, O(display),
    O(visualization_settings) and O(description); anything else Metabase stores is left alone.
  - Queries are written as legacy MBQL (version 4), which Metabase converts; parameter mappings of
    dashboards use legacy field references, as Metabase requires.
  - The metadata of a database is read once per run (C(GET /api/database/{id}/metadata)).
  - In a playbook, SQL with variables must not be templated by Ansible; mark it C(!unsafe), as the
    examples do, or load the definition from a file as data.
  - To place many questions on dashboards, define them inline in
    M(cronicorn.monitoring.metabase_dashboard) instead, which needs one module run per dashboard.
seealso:
  - module: cronicorn.monitoring.metabase_dashboard
  - module: cronicorn.monitoring.metabase_collection
  - module: cronicorn.monitoring.metabase_info
"""

EXAMPLES = r"""
- name: Questions of the admin team
  module_defaults:
    group/cronicorn.monitoring.metabase:
      url: http://127.0.0.1:3030
      username: admin@example.com
      password: "{{ vault_metabase_admin_password }}"
  block:
    - name: A number, from a simple question
      cronicorn.monitoring.metabase_card:
        name: Total Users
        collection: Cronicorn Admin
        database: Cronicorn
        query:
          source_table: public.admin_user_stats
          aggregations: [count]
        display: scalar

    - name: Users by tier, as a bar chart
      cronicorn.monitoring.metabase_card:
        name: Users by Tier
        collection: Cronicorn Admin
        database: Cronicorn
        query:
          source_table: admin_user_stats
          aggregations: [count]
          breakouts: [tier]
          order_by: [{aggregation: 0, direction: desc}]
        display: bar

    - name: Native SQL with a variable
      cronicorn.monitoring.metabase_card:
        name: Runs of one tier
        collection: Cronicorn Admin/Operations
        database: Cronicorn
        native:
          query: !unsafe "SELECT count(*) FROM public.admin_user_stats WHERE tier = {{tier}}"
          template_tags:
            tier: {type: text, display_name: Tier, default: free}
        display: scalar

    - name: Archive a question
      cronicorn.monitoring.metabase_card:
        name: Old question
        collection: Cronicorn Admin
        state: absent
"""

RETURN = r"""
card:
  description:
    - The question after the run (predicted in check mode, where a new card has a negative id).
      Empty when it does not exist or was archived.
  returned: always
  type: dict
  contains:
    id:
      description: Metabase id.
      type: int
      sample: 42
    name:
      description: Name.
      type: str
      sample: Users by Tier
    collection:
      description: Path of its collection (empty for the root collection).
      type: str
      sample: Cronicorn Admin
    collection_id:
      description: Id of its collection (null for the root collection).
      type: int
      sample: 11
    database:
      description: Display name of its database.
      type: str
      sample: Cronicorn
    display:
      description: How it is shown.
      type: str
      sample: bar
    archived:
      description: Whether it is in the Trash.
      type: bool
      sample: false
definition:
  description:
    - The compared keys as the module reads them from Metabase after the run, in the option form
      (names, no ids). Empty when absent.
  returned: always
  type: dict
  sample:
    database: Cronicorn
    query:
      source_table: public.admin_user_stats
      aggregations: [count]
      breakouts: [tier]
    display: bar
    visualization_settings: {}
    description: ""
diff:
  description: Compared keys before and after, one entry per collection or card created or changed.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before: {display: table}
      after: {display: bar}
      before_header: card Users by Tier
      after_header: card Users by Tier
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_content import (  # noqa: E402
    CardResource,
    CollectionResource,
    card_definition_spec,
    public_card,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (  # noqa: E402
    MetabaseModule,
    state_argument_spec,
)


def definition(normalized):
    """The compared keys of a normalized card, the empty kind left out."""
    keys = ("database", "native", "query", "display", "visualization_settings", "description")
    return dict((key, normalized[key]) for key in keys if normalized.get(key) is not None)


def run(ctx):
    params = ctx.params
    result = ctx.result
    result.update(card={}, definition={})
    changes = ctx.changes
    collections = ctx.resource(CollectionResource)
    cards = ctx.resource(CardResource)
    if params["state"] == "absent":
        found, missing = ctx.lookup.find_collection(params.get("collection"))
        if not missing:
            change, _wanted = cards.ensure_card(params, found, state="absent")
            changes.append(change)
    else:
        collection, collection_changes = collections.ensure_path(params.get("collection"))
        changes.extend(c for c in collection_changes if c.changed)
        change, wanted = cards.ensure_card(params, collection, where="card")
        changes.append(change)
        normalized = wanted if ctx.check_mode and change.changed else cards.normalize(change.obj)
        result["card"] = public_card(change.obj, normalized)
        result["definition"] = definition(normalized)
    if ctx.diff_mode:
        result["diff"] = [c.diff for c in changes] or [dict(before={}, after={})]


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        collection=dict(type="str"),
        **card_definition_spec(),
    )
    argument_spec.update(state_argument_spec())
    MetabaseModule(argument_spec, mutually_exclusive=[("native", "query")]).run(run)


if __name__ == "__main__":
    main()

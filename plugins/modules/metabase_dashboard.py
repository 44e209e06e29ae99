#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_dashboard
short_description: Create, update or archive a Metabase dashboard with its cards, tabs and filters
version_added: 0.2.0
description:
  - Manages one dashboard through the Metabase REST API, identified by its O(name) in a O(collection),
    with its cards placed on the grid, its O(tabs) and its filters (O(parameters)) mapped to the
    cards that take them. Everything is given by name; definitions carry no numeric ids.
  - O(cards) is the complete list; a card left out of it leaves the dashboard.
  - A card is defined inline (C(name) with the options of M(cronicorn.monitoring.metabase_card)),
    created or updated in the dashboard's collection by the same code as that module, or referenced
    (C(card), and C(collection) when it lives elsewhere). One module run per dashboard keeps a
    content role fast.
  - Since Metabase replaces the dashcards and tabs of a dashboard wholesale on update, the module
    always sends the full lists together, keeping the ids of the dashcards and tabs that stay, and
    writes only when the compared definition differs.
  - O(state=absent) archives the dashboard (moves it to the Trash). Its inline cards are left alone.
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
      - In check mode the module reads from Metabase but never writes. A referenced card that does
        not exist yet gives a warning instead of a failure, as an earlier task may create it.
  diff_mode:
    details:
      - The diff holds the compared keys only, with names instead of ids, one entry for the dashboard
        and one per collection or inline card created or changed.
options:
  name:
    description:
      - Name of the dashboard. With O(collection) it identifies the dashboard.
    type: str
    required: true
  collection:
    description:
      - Path of the collection that holds the dashboard and its inline cards, for example
        V(Cronicorn Admin). Missing collections are created.
      - Empty or omitted means the root collection ("Our analytics").
    type: str
  description:
    description:
      - Description of the dashboard. Compared and set only when given; V("") removes it.
    type: str
  tabs:
    description:
      - Names of the tabs, in order. Cards without C(tab) go on the first tab.
      - Compared together with O(cards); needs O(cards).
    type: list
    elements: str
  parameters:
    description:
      - The dashboard's filters, in order. Compared and set only when given.
      - Each filter keeps the id Metabase gave it (matched by C(slug)); a new one gets an id derived
        from its slug.
    type: list
    elements: dict
    suboptions:
      name:
        description: Label of the filter.
        type: str
        required: true
      slug:
        description: URL name of the filter; default the name in lower case with C(_) for other characters.
        type: str
      type:
        description:
          - Metabase's parameter type, for example V(string/=), V(number/=), V(date/all-options),
            V(category), V(id).
        type: str
        default: string/=
      default:
        description: Default value of the filter.
        type: raw
  cards:
    description:
      - The cards of the dashboard, the complete list. Omitted means the cards and tabs are left alone.
      - Each entry is one of an inline card (C(name)), an existing card (C(card)), a text box
        (C(text)) or a heading (C(heading)), with its place on the grid (24 columns wide).
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Name of an inline card, kept in the dashboard's collection. Its definition is given by
            C(database), C(native) or C(query), C(display), C(visualization_settings) and
            C(description), exactly as in M(cronicorn.monitoring.metabase_card).
          - An inline card placed twice must be defined the same way both times.
        type: str
      card:
        description: Name of an existing card, in the dashboard's collection unless C(collection) says otherwise.
        type: str
      collection:
        description: Path of the collection of a C(card) reference.
        type: str
      text:
        description: Markdown of a text box.
        type: str
      heading:
        description: Text of a heading.
        type: str
      database:
        description: Display name of the database of an inline card.
        type: str
      native:
        description: Native SQL of an inline card (see O(cronicorn.monitoring.metabase_card#module:native)).
        type: dict
      query:
        description: Simple question of an inline card (see O(cronicorn.monitoring.metabase_card#module:query)).
        type: dict
      display:
        description: How an inline card is shown (V(table), V(scalar), V(bar), ...).
        type: str
        default: table
      visualization_settings:
        description: Visualization settings of an inline card; compared and set only when given.
        type: dict
      description:
        description: Description of an inline card; compared and set only when given.
        type: str
      row:
        description: Row of the top edge, from 0.
        type: int
        required: true
      col:
        description: Column of the left edge, from 0 to 23.
        type: int
        required: true
      size_x:
        description: Width in grid columns.
        type: int
        default: 4
      size_y:
        description: Height in grid rows.
        type: int
        default: 4
      tab:
        description: Name of the tab the card is on (one of O(tabs)).
        type: str
      parameter_mappings:
        description:
          - Which dashboard filters this card takes, and where.
        type: list
        elements: dict
        suboptions:
          parameter:
            description: Name (or slug) of the dashboard filter.
            type: str
            required: true
          column:
            description: For a simple question, the column of its source table the filter applies to.
            type: str
          tag:
            description: For a native question, the template tag (SQL variable) the filter sets.
            type: str
  state:
    description:
      - V(present) creates or updates the dashboard and its inline cards; V(absent) archives the dashboard.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Compared keys are O(description), O(parameters), O(tabs) and O(cards) (card by name, grid place,
    tab, parameter mappings), plus the compared keys of every inline card (see
    M(cronicorn.monitoring.metabase_card)). Dashcard visualization overrides made in the UI are kept
    and not compared.
  - A card archived or deleted by hand is created again and put back in its place.
  - The no-op path reads the collections, the items of the collection, the dashboard (with its
    cards), the databases and the metadata of the databases of simple questions, once each.
  - M(cronicorn.monitoring.metabase_info) exports an existing dashboard in exactly this format.
  - SQL variables (C({{name}})) of inline native cards must not be templated by Ansible; mark the SQL
    C(!unsafe) in a playbook, or load the dashboard file as data (for example with
    C(lookup('ansible.builtin.file', ...) | from_yaml)).
seealso:
  - module: cronicorn.monitoring.metabase_card
  - module: cronicorn.monitoring.metabase_collection
  - module: cronicorn.monitoring.metabase_info
"""

EXAMPLES = r"""
- name: The User Overview dashboard, its questions inline
  cronicorn.monitoring.metabase_dashboard:
    url: http://127.0.0.1:3030
    username: admin@example.com
    password: "{{ vault_metabase_admin_password }}"
    name: User Overview
    collection: Cronicorn Admin
    description: Who uses Cronicorn, and how much
    parameters:
      - name: Tier
        type: string/=
    cards:
      - name: Total Users
        database: Cronicorn
        query:
          source_table: public.admin_user_stats
          aggregations: [count]
        display: scalar
        row: 0
        col: 0
        size_x: 6
        size_y: 4
      - name: Users by Tier
        database: Cronicorn
        query:
          source_table: public.admin_user_stats
          aggregations: [count]
          breakouts: [tier]
        display: bar
        row: 0
        col: 6
        size_x: 18
        size_y: 6
        parameter_mappings:
          - parameter: Tier
            column: tier
      - card: Most Active Users (24h)
        collection: Cronicorn Admin/Shared
        row: 6
        col: 0
        size_x: 24
        size_y: 8

- name: Archive a dashboard
  cronicorn.monitoring.metabase_dashboard:
    url: http://127.0.0.1:3030
    api_key: "{{ vault_metabase_api_key }}"
    name: Old overview
    collection: Cronicorn Admin
    state: absent
"""

RETURN = r"""
dashboard:
  description:
    - The dashboard after the run (predicted in check mode, where a new one has a negative id).
      Empty when it does not exist or was archived.
  returned: always
  type: dict
  contains:
    id:
      description: Metabase id.
      type: int
      sample: 7
    name:
      description: Name.
      type: str
      sample: User Overview
    collection:
      description: Path of its collection (empty for the root collection).
      type: str
      sample: Cronicorn Admin
    collection_id:
      description: Id of its collection (null for the root collection).
      type: int
      sample: 11
    archived:
      description: Whether it is in the Trash.
      type: bool
      sample: false
cards:
  description: The inline cards and what the run did to each (V(none), V(create), V(update)).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: Total Users, id: 41, action: none}
    - {name: Users by Tier, id: 42, action: update}
diff:
  description: Compared keys before and after, one entry per object created or changed.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before: {cards: [{card: Total Users, row: 0, col: 0, size_x: 6, size_y: 4}]}
      after: {cards: [{card: Total Users, row: 0, col: 0, size_x: 12, size_y: 4}]}
      before_header: dashboard User Overview
      after_header: dashboard User Overview
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_content import (  # noqa: E402
    DashboardBuilder,
    card_definition_spec,
    public_dashboard,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (  # noqa: E402
    MetabaseModule,
    state_argument_spec,
)


def run(ctx):
    builder = DashboardBuilder(ctx, ctx.params)
    result = ctx.result
    result.update(dashboard={}, cards=builder.card_results)
    change = builder.run()
    if change.obj:
        result["dashboard"] = public_dashboard(change.obj, ctx.lookup.collection_path(change.obj.get("collection_id")))
        if change.obj.get("collection_id") is None or (change.obj.get("collection_id") or 0) < 0:
            result["dashboard"]["collection"] = ctx.params.get("collection") or ""
    if ctx.diff_mode:
        result["diff"] = [c.diff for c in builder.changes if c.changed] or [change.diff]


def main():
    card_spec = dict(
        name=dict(type="str"),
        card=dict(type="str"),
        collection=dict(type="str"),
        text=dict(type="str"),
        heading=dict(type="str"),
        **card_definition_spec(),
        row=dict(type="int", required=True),
        col=dict(type="int", required=True),
        size_x=dict(type="int", default=4),
        size_y=dict(type="int", default=4),
        tab=dict(type="str"),
        parameter_mappings=dict(
            type="list",
            elements="dict",
            options=dict(
                parameter=dict(type="str", required=True),
                column=dict(type="str"),
                tag=dict(type="str"),
            ),
        ),
    )
    argument_spec = dict(
        name=dict(type="str", required=True),
        collection=dict(type="str"),
        description=dict(type="str"),
        tabs=dict(type="list", elements="str"),
        parameters=dict(
            type="list",
            elements="dict",
            options=dict(
                name=dict(type="str", required=True),
                slug=dict(type="str"),
                type=dict(type="str", default="string/="),
                default=dict(type="raw"),
            ),
        ),
        cards=dict(type="list", elements="dict", options=card_spec),
    )
    argument_spec.update(state_argument_spec())
    MetabaseModule(argument_spec).run(run)


if __name__ == "__main__":
    main()

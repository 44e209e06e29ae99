#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_info
short_description: Read Metabase collections, questions and dashboards, and export definitions
version_added: 0.2.0
description:
  - Lists the collections, questions (cards) and dashboards of Metabase, optionally only those of
    one O(collection) (and the collections below it) and with one O(name).
  - With O(dashboard), also returns the definition of that dashboard in exactly the format
    M(cronicorn.monitoring.metabase_dashboard) takes (cards inline, names instead of ids), so that a
    dashboard built in the Metabase UI can be written to a file and applied back unchanged.
  - With O(card), returns the definition of that question in the format of
    M(cronicorn.monitoring.metabase_card).
  - With O(database), returns that database's sync status and the tables Metabase knows in it
    (RV(database)); given alone, only the database is read, nothing of the collections.
  - Never changes anything.
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
      - The module only reads; it behaves the same in check mode.
  diff_mode:
    support: N/A
    details:
      - The module changes nothing, so there is nothing to show.
options:
  collection:
    description:
      - Path of a collection, for example V(Cronicorn Admin). Lists only it and the collections below
        it, and the questions and dashboards directly in it. Omitted means every collection.
      - Also the collection of O(dashboard) and O(card); empty or omitted means the root collection there.
    type: str
  name:
    description:
      - Lists only the collections, questions and dashboards with this name.
    type: str
  dashboard:
    description:
      - Name of a dashboard in O(collection) to export as RV(dashboard_definition).
    type: str
  card:
    description:
      - Name of a question in O(collection) to export as RV(card_definition).
    type: str
  database:
    description:
      - Display name of a registered database to read as RV(database), for example to wait until
        Metabase's sync knows a table. Given alone, the collections are not read and RV(collections),
        RV(cards) and RV(dashboards) are empty.
    type: str
notes:
  - Archived objects and personal collections are never listed.
  - A question the option form cannot express (joins, custom expressions, several stages, questions
    built on questions) is listed, but exporting it fails with a message that says what it uses.
seealso:
  - module: cronicorn.monitoring.metabase_dashboard
  - module: cronicorn.monitoring.metabase_card
  - module: cronicorn.monitoring.metabase_collection
"""

EXAMPLES = r"""
- name: Export a dashboard built in the UI to a file that metabase_dashboard applies back
  module_defaults:
    group/cronicorn.monitoring.metabase:
      url: http://127.0.0.1:3030
      username: admin@example.com
      password: "{{ vault_metabase_admin_password }}"
  block:
    - name: Read the dashboard
      cronicorn.monitoring.metabase_info:
        collection: Cronicorn Admin
        dashboard: Operations
      register: metabase_info_result

    - name: Write it as YAML
      ansible.builtin.copy:
        content: "{{ metabase_info_result.dashboard_definition | to_nice_yaml(indent=2) }}"
        dest: dashboards/operations.yml
        mode: "0644"
      delegate_to: localhost

    - name: List what the admin collection holds
      cronicorn.monitoring.metabase_info:
        collection: Cronicorn Admin
      register: metabase_admin_content

    - name: Wait until Metabase's sync knows the view admin_daily_metrics
      cronicorn.monitoring.metabase_info:
        database: Cronicorn
      register: metabase_cronicorn
      until: >-
        metabase_cronicorn.database.tables | selectattr('name', 'equalto', 'admin_daily_metrics') | list | length > 0
      retries: 30
      delay: 2
"""

RETURN = r"""
collections:
  description: The collections, each with its path from the root collection.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 11, name: Cronicorn Admin, path: Cronicorn Admin, description: Dashboards of the admin team}
    - {id: 12, name: Operations, path: Cronicorn Admin/Operations, description: null}
cards:
  description: The questions.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 41, name: Total Users, collection: Cronicorn Admin, display: scalar}
dashboards:
  description: The dashboards.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 7, name: User Overview, collection: Cronicorn Admin}
dashboard_definition:
  description:
    - The dashboard O(dashboard) in the options of M(cronicorn.monitoring.metabase_dashboard).
      Cards of its collection are inline; cards of other collections are references.
  returned: when O(dashboard) is given
  type: dict
  sample:
    name: User Overview
    collection: Cronicorn Admin
    parameters:
      - {name: Tier, slug: tier, type: string/=}
    cards:
      - name: Users by Tier
        database: Cronicorn
        query:
          source_table: public.admin_user_stats
          aggregations: [count]
          breakouts: [tier]
        display: bar
        row: 0
        col: 0
        size_x: 12
        size_y: 6
        parameter_mappings:
          - {parameter: Tier, column: tier}
database:
  description:
    - The database O(database) with Metabase's status of its first sync (V(incomplete) until it is over)
      and the tables (and views) its metadata lists, hidden ones included.
  returned: when O(database) is given
  type: dict
  sample:
    id: 2
    name: Cronicorn
    initial_sync_status: complete
    tables:
      - {schema: public, name: admin_daily_metrics, visibility: null}
card_definition:
  description: The question O(card) in the options of M(cronicorn.monitoring.metabase_card).
  returned: when O(card) is given
  type: dict
  sample:
    name: Total Users
    collection: Cronicorn Admin
    database: Cronicorn
    query:
      source_table: public.admin_user_stats
      aggregations: [count]
    display: scalar
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_access import database_metadata  # noqa: E402
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_content import (  # noqa: E402
    ARCHIVED_SUFFIX,
    CARD_MODELS,
    DASHBOARD_MODELS,
    CardResource,
    DashboardResource,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_mbql import MetadataCache  # noqa: E402
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (  # noqa: E402
    MetabaseModule,
    ResourceError,
    unknown_name_error,
)


def card_options(normalized, where):
    """A normalized card as the options of metabase_card (without collection)."""
    for kind in ("native", "query"):
        definition = normalized.get(kind)
        if isinstance(definition, dict) and "unsupported" in definition:
            raise ResourceError(
                "%s cannot be exported: %s. Hint: rebuild it as a simple question or as native SQL."
                % (where, definition["unsupported"])
            )
    options = {"name": normalized["name"], "database": normalized["database"]}
    for kind in ("native", "query"):
        if normalized.get(kind) is not None:
            options[kind] = normalized[kind]
    options["display"] = normalized.get("display") or "table"
    if normalized.get("visualization_settings"):
        options["visualization_settings"] = normalized["visualization_settings"]
    if normalized.get("description"):
        options["description"] = normalized["description"]
    return options


def export_dashboard(ctx, resources, collection_id, path, name):
    cards, dashboards = resources
    item = ctx.lookup.find_item(collection_id, name, DASHBOARD_MODELS)
    if item is None:
        raise unknown_name_error(
            "dashboard",
            name,
            ctx.lookup.item_names(collection_id, DASHBOARD_MODELS),
            " in collection %r" % (path or "Our analytics"),
        )
    dashboard = dashboards.read_dashboard(item["id"])
    normalized = dashboards.normalize(dashboard)
    hydrated = dict(
        (d.get("card_id"), d.get("card")) for d in dashboard.get("dashcards") or [] if isinstance(d.get("card"), dict)
    )
    by_name = {}
    for card_id, hydrated_card in hydrated.items():
        card = hydrated_card if "dataset_query" in hydrated_card else cards.read_card(card_id)
        by_name.setdefault((ctx.lookup.collection_path(card.get("collection_id")), card.get("name")), card)
    definition = {"name": normalized["name"], "collection": normalized["collection"] or ""}
    if normalized["description"]:
        definition["description"] = normalized["description"]
    if normalized["parameters"]:
        definition["parameters"] = normalized["parameters"]
    if normalized["tabs"]:
        definition["tabs"] = normalized["tabs"]
    entries = []
    for item in normalized["cards"]:
        if "unsupported" in item:
            raise ResourceError("Dashboard %r cannot be exported: it holds %s." % (name, item["unsupported"]))
        if str(item.get("card", "")).endswith(ARCHIVED_SUFFIX):
            ctx.warn("Dashboard %r shows the archived card %r; it is left out." % (name, item["card"]))
            continue
        if "card" in item and "collection" not in item:
            card = by_name[(normalized["collection"], item["card"])]
            entry = card_options(cards.normalize(card), "Card %r" % item["card"])
            entry.update((key, value) for key, value in item.items() if key != "card")
        else:
            entry = dict(item)
        entries.append(entry)
    definition["cards"] = entries
    return definition


def read_database(ctx, name):
    """The database ``name``: its sync status and the tables its metadata lists."""
    database = ctx.lookup.database(name)
    return {
        "id": database["id"],
        "name": database["name"],
        "initial_sync_status": database.get("initial_sync_status"),
        "tables": [
            {"schema": t.get("schema"), "name": t.get("name"), "visibility": t.get("visibility_type")}
            for t in database_metadata(ctx.client, database["id"])
        ],
    }


def run(ctx):
    params = ctx.params
    result = ctx.result
    if params.get("database"):
        result["database"] = read_database(ctx, params["database"])
        if not any(params.get(key) for key in ("collection", "name", "dashboard", "card")):
            result["collections"], result["cards"], result["dashboards"] = [], [], []
            return
    metadata = MetadataCache(ctx.client, ctx.lookup)
    cards = ctx.resource(CardResource, metadata=metadata)
    dashboards = ctx.resource(DashboardResource, metadata=metadata)
    path = params.get("collection")
    if path:
        top = ctx.lookup.collection_id(path)
        scope = [c for c in ctx.lookup.collections() if c["id"] == top or "/%d/" % top in (c.get("location") or "")]
        listed_ids = [top]
    else:
        scope = list(ctx.lookup.collections())
        listed_ids = [None] + [c["id"] for c in scope]
    name = params.get("name")
    result["collections"] = [
        {
            "id": c["id"],
            "name": c["name"],
            "path": ctx.lookup.collection_path(c["id"]),
            "description": c.get("description"),
        }
        for c in scope
        if name is None or c.get("name") == name
    ]
    result["cards"], result["dashboards"] = [], []
    for collection_id in listed_ids:
        where = ctx.lookup.collection_path(collection_id)
        for item in ctx.lookup.items(collection_id):
            if name is not None and item.get("name") != name:
                continue
            if item.get("model") in CARD_MODELS:
                result["cards"].append(
                    {"id": item["id"], "name": item["name"], "collection": where, "display": item.get("display")}
                )
            elif item.get("model") in DASHBOARD_MODELS:
                result["dashboards"].append({"id": item["id"], "name": item["name"], "collection": where})
    home = ctx.lookup.collection_id(path) if path else None
    if params.get("dashboard"):
        result["dashboard_definition"] = export_dashboard(
            ctx, (cards, dashboards), home, path or "", params["dashboard"]
        )
    if params.get("card"):
        item = ctx.lookup.find_item(home, params["card"], CARD_MODELS)
        if item is None:
            raise unknown_name_error(
                "card",
                params["card"],
                ctx.lookup.item_names(home, CARD_MODELS),
                " in collection %r" % (path or "Our analytics"),
            )
        normalized = cards.normalize(cards.read_card(item["id"]))
        definition = card_options(normalized, "Card %r" % params["card"])
        definition["collection"] = path or ""
        result["card_definition"] = definition


def main():
    argument_spec = dict(
        collection=dict(type="str"),
        name=dict(type="str"),
        dashboard=dict(type="str"),
        card=dict(type="str"),
        database=dict(type="str"),
    )
    MetabaseModule(argument_spec).run(run)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_metadata
short_description: Set the metadata of many tables and columns of one database in one run
version_added: 0.3.0
description:
  - Sets how Metabase shows the tables and columns of one registered database, as
    M(cronicorn.monitoring.metabase_table) and M(cronicorn.monitoring.metabase_field) do for one of them,
    comparing the same keys the same way.
  - Reads the database's metadata once (C(GET /api/database/{id}/metadata)), then sends one
    C(PUT /api/table/{id}) or C(PUT /api/field/{id}) per item that differs, and nothing for the others.
    Many items cost one module run instead of one run (a login and a full metadata read) each.
  - Hiding a table or a column is for clarity in the query builder, not for security; it does not stop
    a SQL question from reading it (only the database role's grants do).
author:
  - Cronicorn operations (@cronicorn)
extends_documentation_fragment:
  - cronicorn.monitoring.metabase
  - cronicorn.monitoring.metabase.actiongroup
  - ansible.builtin.action_common_attributes
  - cronicorn.monitoring.attributes
attributes:
  diff_mode:
    details:
      - One diff for the whole run; its before and after are keyed by each changed item (C(table public.account),
        C(field public.user.email)) and its header names them.
options:
  database:
    description: Display name of the database in Metabase.
    type: str
    required: true
  tables:
    description:
      - Tables (or views) and the keys to set on each, as the options of M(cronicorn.monitoring.metabase_table).
    type: list
    elements: dict
    default: []
    suboptions:
      table:
        description: Name of the table, or C(schema.table) when several schemas hold one of that name.
        type: str
        required: true
      visibility:
        description: V(visible), V(hidden), V(technical) or V(cruft). Compared and set only when given.
        type: str
        choices: [visible, hidden, technical, cruft]
      description:
        description: Description shown in Metabase; V("") removes it. Compared and set only when given.
        type: str
      display_name:
        description: Name shown in Metabase. Compared and set only when given.
        type: str
  fields:
    description:
      - Columns and the keys to set on each, as the options of M(cronicorn.monitoring.metabase_field).
    type: list
    elements: dict
    default: []
    suboptions:
      table:
        description: Name of the table (or view), or C(schema.table).
        type: str
        required: true
      field:
        description: Name of the column.
        type: str
        required: true
      visibility:
        description:
          - V(normal), V(details-only), V(hidden), V(sensitive) or V(retired). Compared and set only when given.
        type: str
        choices: [normal, details-only, hidden, sensitive, retired]
      description:
        description: Description shown in Metabase; V("") removes it. Compared and set only when given.
        type: str
      display_name:
        description: Name shown in Metabase. Compared and set only when given.
        type: str
      semantic_type:
        description: Metabase's semantic type, for example V(type/Email) or V(type/Category); V("") removes it.
        type: str
  missing:
    description:
      - What to do when Metabase does not list a table or a column (not synced, or the database role cannot
        read it, which is what a withheld column looks like).
      - V(fail) fails before anything is written, naming every such item with close matches.
      - V(ignore) leaves such items out and lists them in RV(missing); the others are set.
    type: str
    choices: [fail, ignore]
    default: fail
notes:
  - With neither O(tables) nor O(fields), only the database is looked up; the metadata is not read.
  - A table or column given twice (also as C(table) and C(schema.table)) fails the run before anything is
    written; give each one once, with all its keys.
seealso:
  - module: cronicorn.monitoring.metabase_table
  - module: cronicorn.monitoring.metabase_field
"""

EXAMPLES = r"""
- name: Hide the tables and columns the read-only role cannot read, in one run
  cronicorn.monitoring.metabase_metadata:
    url: http://127.0.0.1:3030
    api_key: "{{ vault_metabase_api_key }}"
    database: Cronicorn
    tables:
      - table: public.api_keys
        visibility: hidden
    fields:
      - table: public.user
        field: stripe_customer_id
        visibility: sensitive
      - table: public.job_endpoints
        field: headers_json
        visibility: sensitive
    missing: ignore

- name: Describe two columns of a view
  cronicorn.monitoring.metabase_metadata:
    url: http://127.0.0.1:3030
    api_key: "{{ vault_metabase_api_key }}"
    database: Cronicorn
    fields:
      - table: admin_user_stats
        field: email
        semantic_type: type/Email
      - table: admin_user_stats
        field: tier
        description: The plan the user is on
"""

RETURN = r"""
tables:
  description:
    - Each table Metabase lists, in the order given, as M(cronicorn.monitoring.metabase_table) returns it (id,
      schema, name and the compared keys after the run, predicted in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{id: 12, schema: public, name: api_keys, visibility: hidden}]
fields:
  description:
    - Each column Metabase lists, in the order given, as M(cronicorn.monitoring.metabase_field) returns it (id,
      table, name and the compared keys after the run, predicted in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{id: 40, table: public.user, name: stripe_customer_id, visibility: sensitive}]
missing:
  description: The tables and columns given that Metabase does not list (with O(missing=ignore)).
  returned: always
  type: dict
  contains:
    tables:
      description: Table names, as given.
      type: list
      elements: str
    fields:
      description: Columns, as given (C(table), C(field)).
      type: list
      elements: dict
  sample: {tables: [], fields: [{table: public.user, field: stripe_customer_id}]}
diff:
  description: The compared keys before and after of each changed item, keyed by the item.
  returned: when diff mode is on
  type: dict
  sample:
    before: {"field public.user.email": {visibility: normal}}
    after: {"field public.user.email": {visibility: sensitive}}
    before_header: "metadata of database Cronicorn: field public.user.email"
    after_header: "metadata of database Cronicorn: field public.user.email"
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_access import (  # noqa: E402
    field_options,
    run_metadata_many,
    table_options,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import MetabaseModule  # noqa: E402


def main():
    argument_spec = dict(
        database=dict(type="str", required=True),
        tables=dict(type="list", elements="dict", default=[], options=table_options()),
        fields=dict(type="list", elements="dict", default=[], options=field_options()),
        missing=dict(type="str", choices=["fail", "ignore"], default="fail"),
    )
    MetabaseModule(argument_spec).run(run_metadata_many)


if __name__ == "__main__":
    main()

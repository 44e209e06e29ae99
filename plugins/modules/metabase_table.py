#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_table
short_description: Set the metadata of a table Metabase synced (visibility, description, display name)
version_added: 0.3.0
description:
  - Sets how Metabase shows one table of a registered database, through C(PUT /api/table/{id}).
  - O(visibility=hidden) hides the table from the query builder and the data browser; it does not
    stop a SQL question from reading it (only the database role's grants do).
author:
  - Cronicorn operations (@cronicorn)
extends_documentation_fragment:
  - cronicorn.monitoring.metabase
  - cronicorn.monitoring.metabase.actiongroup
  - ansible.builtin.action_common_attributes
  - cronicorn.monitoring.attributes
options:
  database:
    description: Display name of the database in Metabase.
    type: str
    required: true
  table:
    description: Name of the table (or view), or C(schema.table) when several schemas hold one of that name.
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
  missing:
    description:
      - What to do when Metabase does not list the table (not synced, or the database role cannot read it).
      - V(ignore) reports no change; useful when hiding tables that the role may or may not be able to read.
    type: str
    choices: [fail, ignore]
    default: fail
seealso:
  - module: cronicorn.monitoring.metabase_field
"""

EXAMPLES = r"""
- name: Hide a table from the query builder
  cronicorn.monitoring.metabase_table:
    url: http://127.0.0.1:3030
    api_key: "{{ vault_metabase_api_key }}"
    database: Cronicorn
    table: public.account
    visibility: hidden
    missing: ignore
"""

RETURN = r"""
table:
  description: Id, schema, name and the compared keys after the run (predicted in check mode); empty when missing.
  returned: always
  type: dict
  sample: {id: 12, schema: public, name: account, visibility: hidden, description: ""}
diff:
  description: The compared keys before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_access import (  # noqa: E402
    run_metadata_module,
    table_options,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import MetabaseModule  # noqa: E402


def run(ctx):
    run_metadata_module(ctx, "table")


def main():
    argument_spec = dict(
        database=dict(type="str", required=True),
        **table_options(),
        missing=dict(type="str", choices=["fail", "ignore"], default="fail"),
    )
    MetabaseModule(argument_spec).run(run)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_field
short_description: Set the metadata of a column Metabase synced (visibility, description, semantic type)
version_added: 0.3.0
description:
  - Sets how Metabase shows one column of a synced table, through C(PUT /api/field/{id}).
  - O(visibility=sensitive) keeps the column out of every question's results and lists;
    V(hidden) keeps it out of the lists; neither stops SQL from reading it (only the database role's
    grants do).
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
    description: Name of the table (or view), or C(schema.table).
    type: str
    required: true
  field:
    description: Name of the column.
    type: str
    required: true
  visibility:
    description: V(normal), V(details-only), V(hidden), V(sensitive) or V(retired). Compared and set only when given.
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
      - What to do when Metabase does not list the table or the column (not synced, or the database
        role cannot read it, which is what a withheld column looks like).
    type: str
    choices: [fail, ignore]
    default: fail
seealso:
  - module: cronicorn.monitoring.metabase_table
"""

EXAMPLES = r"""
- name: Hide a withheld column, should Metabase still list it
  cronicorn.monitoring.metabase_field:
    url: http://127.0.0.1:3030
    api_key: "{{ vault_metabase_api_key }}"
    database: Cronicorn
    table: user
    field: stripe_customer_id
    visibility: sensitive
    missing: ignore
"""

RETURN = r"""
field:
  description: Id, table, name and the compared keys after the run (predicted in check mode); empty when missing.
  returned: always
  type: dict
  sample: {id: 40, table: public.user, name: stripe_customer_id, visibility: sensitive}
diff:
  description: The compared keys before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_access import (  # noqa: E402
    field_options,
    run_metadata_module,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import MetabaseModule  # noqa: E402


def run(ctx):
    run_metadata_module(ctx, "field")


def main():
    argument_spec = dict(
        database=dict(type="str", required=True),
        **field_options(),
        missing=dict(type="str", choices=["fail", "ignore"], default="fail"),
    )
    MetabaseModule(argument_spec).run(run)


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Access as code: what Metabase's metadata must hide, derived from the read-only role's classification.

``metabase_access_hidden(relations)`` takes the ``relations`` of the readonly_user role's state query
(roles/readonly_user/files/readonly_state.sql: one entry per relation of the application's schemas with
``relation`` (``schema.name``, identifiers quoted as PostgreSQL's ``%I`` does), ``decision``
(``readable``, ``view`` or ``hidden``) and ``withheld`` (the withheld column names, ``", "``-joined, or
null)) and returns ``{"tables": ["schema.name", ...], "fields": [{"table": "schema.name", "field":
"column"}, ...]}``: the hidden relations and the withheld columns of readable ones, to hide in
Metabase. The classification stays the one source: nothing here has a list of its own.

``metabase_access_hidden(relations, as_metadata=true)`` returns the same items as the ``tables`` and
``fields`` options of ``cronicorn.monitoring.metabase_metadata``: each table ``{"table": ..., "visibility":
"hidden"}``, each column ``{"table": ..., "field": ..., "visibility": "sensitive"}``.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _unquote(identifier):
    """``"user"`` -> ``user``; ``"a""b"`` -> ``a"b``; a bare identifier is returned as it is."""
    if len(identifier) >= 2 and identifier[0] == '"' and identifier[-1] == '"':
        return identifier[1:-1].replace('""', '"')
    return identifier


def split_qualified(qname):
    """``public."user"`` -> ``("public", "user")``, minding dots inside quotes."""
    parts, current, quoted = [], "", False
    for char in qname:
        if char == '"':
            quoted = not quoted
        if char == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    if len(parts) != 2 or quoted:
        raise AnsibleFilterError("metabase_access_hidden: %r is not a schema-qualified relation name" % qname)
    return _unquote(parts[0]), _unquote(parts[1])


#: What ``as_metadata`` sets: a hidden table is hidden, a withheld column is sensitive (out of every result).
TABLE_VISIBILITY = "hidden"
FIELD_VISIBILITY = "sensitive"


def metabase_access_hidden(relations, as_metadata=False):
    if not isinstance(relations, list):
        raise AnsibleFilterError("metabase_access_hidden expects the list of relations of the readonly_user state")
    tables, fields = [], []
    for entry in relations:
        if not isinstance(entry, dict) or "relation" not in entry:
            raise AnsibleFilterError("metabase_access_hidden: an entry without 'relation': %r" % (entry,))
        schema, name = split_qualified(entry["relation"])
        qualified = "%s.%s" % (schema, name)
        if entry.get("decision") == "hidden":
            tables.append(qualified)
        elif entry.get("withheld"):
            for column in str(entry["withheld"]).split(", "):
                if column:
                    fields.append(dict(table=qualified, field=column))
    tables = sorted(tables)
    fields = sorted(fields, key=lambda f: (f["table"], f["field"]))
    if as_metadata:
        tables = [dict(table=t, visibility=TABLE_VISIBILITY) for t in tables]
        fields = [dict(f, visibility=FIELD_VISIBILITY) for f in fields]
    return dict(tables=tables, fields=fields)


class FilterModule(object):
    """Access as code."""

    def filters(self):
        return {"metabase_access_hidden": metabase_access_hidden}

# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Dashboards as files: read the YAML files of the metabase_content role and turn them into the arguments of
cronicorn.monitoring.metabase_dashboard, and turn a dashboard read back (metabase_info) into such a file.

A file holds one dashboard (docs/dashboards.md):

    name: User Overview
    description: ...
    collection: Operations          # optional, below the role's collection
    cards:
      - name: Total Users           # a card defined here (inline): its query or native SQL
        display: scalar
        query: {source_table: admin_user_stats, aggregations: [count]}
        row: 0
        col: 0
        size_x: 6
        size_y: 4
      - card: Users by Tier         # a card placed only: defined in another file of the set, or in Metabase
        row: 0
        col: 6
        size_x: 12
        size_y: 6

Native SQL may contain ``${name}`` placeholders, each replaced by a SQL ``VALUES`` list built from a mapping
given by the role (``${tier_prices}``: ``VALUES ('free', 0), ('pro', 29)``). Metabase's own ``{{variable}}``
tags are left alone.
"""

from __future__ import annotations

import difflib
import os
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML always comes with ansible-core
    yaml = None

# The keys a dashboard file may have; anything else is a typo the operator should hear about.
DASHBOARD_KEYS = ("name", "description", "collection", "cards", "parameters", "tabs")
# What an item of ``cards`` is: a card defined here (name), a card placed only (card), a text box, a heading.
ITEM_KINDS = ("name", "card", "text", "heading")
# The keys that define a card (the question itself). Every other key of an item is its place on this
# dashboard (row, col, size_x, size_y, tab, parameter_mappings) and goes to the module as it is.
DEFINITION_KEYS = ("description", "display", "native", "query", "visualization_settings", "database")
QUESTION_KEYS = ("native", "query")
FILE_SUFFIXES = (".yml", ".yaml")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _fail(message):
    raise AnsibleFilterError(message)


def _close(name, candidates):
    matches = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    return " Close matches: {0}.".format(", ".join(matches)) if matches else ""


def sql_literal(value, where):
    """A SQL literal for a price or a tier: numbers as they are, text quoted; anything else refused."""
    if isinstance(value, bool) or value is None:
        _fail("{0}: {1!r} is neither a number nor a text".format(where, value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, string_types):
        return "'" + value.replace("'", "''") + "'"
    return _fail("{0}: {1!r} is neither a number nor a text".format(where, value))


def sql_values(mapping, where):
    """``VALUES ('k1', v1), ('k2', v2)`` of a mapping, sorted by key (the same text on every run)."""
    if not isinstance(mapping, dict) or not mapping:
        _fail("{0}: needs a non-empty mapping, got {1!r}".format(where, mapping))
    rows = [
        "({0}, {1})".format(sql_literal(str(key), where), sql_literal(mapping[key], "{0}[{1}]".format(where, key)))
        for key in sorted(mapping, key=str)
    ]
    return "VALUES " + ", ".join(rows)


def substitute(sql, values, where):
    """Replace each ``${name}`` of ``sql`` by the VALUES list of ``values[name]``."""

    def replace(match):
        name = match.group(1)
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            _fail("{0}: unknown placeholder ${{{1}}}; known: {2}.".format(where, name, known))
        return sql_values(values[name], "{0}: ${{{1}}}".format(where, name))

    return PLACEHOLDER.sub(replace, sql)


def read_dashboard_files(directories):
    """[(path, parsed content)] of every *.yml / *.yaml file in ``directories``, in order, each sorted by name.

    An empty directory name is skipped; a named directory that does not exist is an error (a typo would
    otherwise silently apply nothing)."""
    if isinstance(directories, string_types):
        directories = [directories]
    found = []
    for directory in directories:
        if not directory:
            continue
        if not os.path.isdir(directory):
            _fail("dashboard directory {0} does not exist".format(directory))
        for entry in sorted(os.listdir(directory)):
            path = os.path.join(directory, entry)
            if entry.startswith(".") or not entry.endswith(FILE_SUFFIXES) or not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as handle:
                try:
                    content = yaml.safe_load(handle)
                except yaml.YAMLError as error:
                    _fail("{0}: not valid YAML: {1}".format(path, error))
            found.append((path, content))
    return found


def is_definition(card):
    """Whether a card item defines its card (``name`` and a question) rather than placing one."""
    return "name" in card


def _check_card(where, card):
    if not isinstance(card, dict):
        _fail("{0} is not a mapping".format(where))
    kinds = [kind for kind in ITEM_KINDS if kind in card]
    if len(kinds) != 1 or not isinstance(card[kinds[0]], string_types) or not card[kinds[0]].strip():
        _fail("{0}: give exactly one of {1}".format(where, ", ".join(ITEM_KINDS)))
    if kinds[0] == "name":
        if sum(key in card for key in QUESTION_KEYS) != 1:
            _fail("{0} ('{1}'): give native (SQL) or query (a simple question)".format(where, card["name"]))
    else:
        extra = sorted(set(card) & set(DEFINITION_KEYS))
        if extra:
            _fail(
                "{0}: '{1}' has {2}, which only a card defined here has (name and its native or query)".format(
                    where, card[kinds[0]], ", ".join(extra)
                )
            )


def _check_dashboard(path, dashboard):
    if not isinstance(dashboard, dict):
        kind = type(dashboard).__name__
        _fail("{0}: a dashboard file holds one mapping (name, cards, ...), not {1}".format(path, kind))
    unknown = sorted(set(dashboard) - set(DASHBOARD_KEYS))
    if unknown:
        _fail("{0}: unknown keys {1}; a dashboard has {2}".format(path, ", ".join(unknown), ", ".join(DASHBOARD_KEYS)))
    if not isinstance(dashboard.get("name"), string_types) or not dashboard["name"].strip():
        _fail("{0}: the dashboard needs a name".format(path))
    cards = dashboard.get("cards")
    if not isinstance(cards, list):
        _fail("{0}: '{1}' needs a list of cards".format(path, dashboard["name"]))
    for index, card in enumerate(cards):
        _check_card("{0}: card {1}".format(path, index + 1), card)


def _join_collection(root, sub):
    parts = [part for part in (root or "").split("/") if part.strip()]
    parts += [part for part in (sub or "").split("/") if part.strip()]
    return "/".join(part.strip() for part in parts)


def _choose(files):
    """{dashboard name: (path, dashboard)} in file order; a later directory's dashboard replaces an earlier one
    of the same name, the same name twice in one directory is an error."""
    chosen = {}
    seen = {}
    for path, dashboard in files:
        _check_dashboard(path, dashboard)
        key = (os.path.dirname(path), dashboard["name"])
        if key in seen:
            _fail("dashboard '{0}' is defined twice in {1}: {2} and {3}".format(key[1], key[0], seen[key], path))
        seen[key] = path
        chosen[dashboard["name"]] = (path, dashboard)
    return chosen


def _definitions(chosen):
    """{card name: (path, definition)} of the cards the chosen dashboards define; one definition per name."""
    definitions = {}
    for path, dashboard in chosen.values():
        for card in dashboard["cards"]:
            if not is_definition(card):
                continue
            definition = dict((k, v) for k, v in card.items() if k in DEFINITION_KEYS)
            earlier = definitions.get(card["name"])
            if earlier is not None and earlier[1] != definition:
                _fail(
                    "card '{0}' is defined differently in {1} and {2}; define it once and place it elsewhere "
                    "with only 'card: {0}' and its place".format(card["name"], earlier[0], path)
                )
            definitions[card["name"]] = (path, definition)
    return definitions


def _card_arguments(card, definitions, path, database, values):
    """One item of the module's ``cards``: a placed card gets the set's definition of it when there is one (so
    that dashboards do not depend on the order they are applied in), native SQL its placeholders replaced."""
    item = dict(card)
    if "card" in card and "collection" not in card and card["card"] in definitions:
        item = dict((k, v) for k, v in card.items() if k != "card")
        item["name"] = card["card"]
        item.update(definitions[card["card"]][1])
    native = item.get("native")
    if isinstance(native, dict) and isinstance(native.get("query"), string_types):
        where = "{0}: card '{1}'".format(path, item["name"])
        item["native"] = dict(native, query=substitute(native["query"], values, where))
    if database and is_definition(item) and "database" not in item:
        item["database"] = database
    return item


def metabase_content_dashboards(directories, collection="Cronicorn Admin", database="", sql_values_map=None):
    """The metabase_dashboard arguments (without the connection) of the dashboard files in ``directories``.

    - A later directory's dashboard with the same name replaces an earlier one (the operator's files over the
      shipped ones); the same name twice within one directory is an error.
    - A card is defined once (``name`` with its ``query`` or ``native``) and may be placed on other
      dashboards of the set with ``card: <name>`` and its place only; two different definitions of one name
      are an error, since they would be one card in Metabase (cards are found by collection and name),
      rewritten back and forth on every run. A placed card the set does not define is left to the module.
    - ``${name}`` in native SQL becomes the VALUES list of ``sql_values_map[name]``.
    - Every defined card gets ``database`` unless it names its own; dashboards and their cards go into
      ``collection`` (or ``collection/<the file's collection>``).
    """
    values = dict(sql_values_map or {})
    for key in values:
        if not IDENTIFIER.match(str(key)):
            _fail("placeholder name {0!r} is not an identifier".format(key))
    chosen = _choose(read_dashboard_files(directories))
    definitions = _definitions(chosen)
    result = []
    for path, dashboard in chosen.values():
        arguments = dict((k, v) for k, v in dashboard.items() if k not in ("collection", "cards"))
        arguments["collection"] = _join_collection(collection, dashboard.get("collection"))
        arguments["cards"] = [_card_arguments(c, definitions, path, database, values) for c in dashboard["cards"]]
        result.append(arguments)
    return result


def metabase_content_export(definition, collection="Cronicorn Admin", database=""):
    """A dashboard definition as metabase_info returns it, as a dashboard file of the role: its collection
    relative to the role's ``collection``, and each card's database left out when it is ``database``."""
    if not isinstance(definition, dict) or not definition.get("name"):
        _fail("expected a dashboard definition with a name, got {0!r}".format(definition))
    exported = {"name": definition["name"]}
    if definition.get("description"):
        exported["description"] = definition["description"]
    where = definition.get("collection") or ""
    root = _join_collection(collection, "")
    if where == root:
        pass
    elif root and where.startswith(root + "/"):
        exported["collection"] = where[len(root) + 1 :]
    else:
        _fail(
            "dashboard '{0}' is in collection '{1}', not in '{2}' or below it: apply it with "
            "metabase_content_collection set to its collection".format(definition["name"], where, root)
        )
    for key in ("parameters", "tabs"):
        if definition.get(key):
            exported[key] = definition[key]
    cards = []
    for card in definition.get("cards") or []:
        item = dict(card)
        if database and item.get("database") == database:
            del item["database"]
        cards.append(item)
    exported["cards"] = cards
    return exported


class _FileDumper(yaml.SafeDumper if yaml else object):
    """YAML as the shipped files are written: block sequences indented under their key, multi-line text
    (SQL) as a literal block."""

    def increase_indent(self, flow=False, indentless=False):
        return super(_FileDumper, self).increase_indent(flow, False)


def _represent_text(dumper, data):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


if yaml:
    _FileDumper.add_representer(str, _represent_text)


def _plain(value):
    """``value`` with Python's own types only: Ansible hands filters its tagged subclasses of dict, list and
    str, which the safe YAML dumper refuses to represent."""
    if isinstance(value, dict):
        return dict((str(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    for kind in (bool, int, float):  # bool first: True is an int too
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, string_types):
        return str(value)
    if value is None:
        return None
    return _fail("cannot write {0!r} into a dashboard file".format(value))


def metabase_content_yaml(data):
    """``data`` as the text of a dashboard file (``---`` first, keys in their order, SQL as literal blocks)."""
    return yaml.dump(
        _plain(data), Dumper=_FileDumper, sort_keys=False, allow_unicode=True, width=120, explicit_start=True
    )


def metabase_content_tables(dashboards):
    """The source tables of the simple questions of ``dashboards`` (module arguments), sorted: what Metabase's
    metadata must hold before the dashboards can be applied."""
    tables = set()
    for dashboard in dashboards or []:
        for card in dashboard.get("cards") or []:
            query = card.get("query")
            if isinstance(query, dict) and isinstance(query.get("source_table"), string_types):
                tables.add(query["source_table"])
    return sorted(tables)


def metabase_content_missing_tables(wanted, metadata):
    """The tables of ``wanted`` (``table`` or ``schema.table``) that the answer of
    ``GET /api/database/{id}/metadata`` does not hold."""
    known = set()
    for table in (metadata or {}).get("tables") or []:
        if isinstance(table, dict) and table.get("name"):
            known.add(table["name"])
            if table.get("schema"):
                known.add("{0}.{1}".format(table["schema"], table["name"]))
    return [table for table in wanted or [] if table not in known]


class FilterModule(object):
    """Dashboards as files."""

    def filters(self):
        return {
            "metabase_content_dashboards": metabase_content_dashboards,
            "metabase_content_export": metabase_content_export,
            "metabase_content_yaml": metabase_content_yaml,
            "metabase_content_tables": metabase_content_tables,
            "metabase_content_missing_tables": metabase_content_missing_tables,
        }

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postgresql_views
short_description: Keep a schema's functions and the views that read through them exactly as defined
version_added: 0.1.0
description:
  - Manages a set of functions and of views in one PostgreSQL schema, together with their owner, their
    comments and who may use them. Every view is C(SELECT * FROM <schema>.<function>()) over a function of
    the set, so the SQL lives in function bodies.
  - Reads the current definitions from the catalog and compares them with the wanted ones, attribute by
    attribute (body text, arguments, result columns, language, volatility, parallel safety, security
    definer, C(SET) settings, owner). Objects that match are not touched, so a run with unchanged
    definitions writes nothing, not even a C(GRANT).
  - All changes of a run are applied in one transaction. A changed body or attribute is applied with
    C(CREATE OR REPLACE FUNCTION), which leaves the view in place; a changed result type needs the view
    and the function to be dropped and created again, inside the same transaction, so no session ever
    sees the view missing (readers wait for the commit, then see the new definition).
  - Objects of the schema that belong to O(owner) but are not listed are dropped (O(prune)). Objects
    owned by other roles are never touched.
  - Privileges on the managed objects are kept exact; C(EXECUTE) is revoked from C(PUBLIC) on every
    managed function; O(readers) get C(USAGE) on the schema, C(SELECT) on the views and C(EXECUTE) on the
    functions the views call.
  - Optionally grants O(owner) C(SELECT) on exactly the listed columns of source tables
    (O(column_privileges)), so that security definer functions can read what they need and nothing else.
author:
  - Cronicorn operations (@cronicorn)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - cronicorn.monitoring.attributes
attributes:
  check_mode:
    details:
      - In check mode the module only reads the catalog; it reports what it would change.
  diff_mode:
    details:
      - The diff shows the current and the wanted definition (C(CREATE FUNCTION) text, view query,
        privileges) of every object that differs.
requirements:
  - psycopg2
notes:
  - The schema and O(owner) must exist (create them first, for example with
    M(community.postgresql.postgresql_schema) and M(community.postgresql.postgresql_user)). In check mode
    a missing schema or owner is reported as a change, not as an error.
  - O(login_user) must be a superuser or a member of O(owner), so that it can give the objects to O(owner).
  - O(login_password) is never returned or logged; no other option holds a secret.
  - One run at a time per schema and database. A run takes a transaction-scoped advisory lock first; a second
    run waits for it at most O(lock_timeout) and then fails saying that another run is deploying the schema.
  - Function arguments and column types are compared after PostgreSQL resolves them, so C(int) and
    C(integer) are the same. Argument names are compared as written, unquoted; names that are SQL keywords
    (C(from), C(user), C(limit)) are fine. Arguments are written C(name type), separated by commas (types containing
    commas, such as C(numeric(10,2)), are not supported in O(functions[].arguments)).
seealso:
  - module: community.postgresql.postgresql_query
  - module: community.postgresql.postgresql_privs
options:
  login_host:
    description: Host of the PostgreSQL server.
    type: str
    default: 127.0.0.1
  login_port:
    description: Port of the PostgreSQL server.
    type: int
    default: 5432
    aliases: [port]
  login_user:
    description: Role to connect as.
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user).
    type: str
  login_db:
    description: Database that holds the schema.
    type: str
    required: true
    aliases: [db]
  ssl_mode:
    description:
      - libpq C(sslmode) of the connection.
      - V(verify-ca) and V(verify-full) need O(ca_cert); without it the module fails before connecting.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - File of the certificate(s) of the authority that signed the server's certificate (libpq
        C(sslrootcert)), or V(system) for the system's trusted roots (libpq 16 or later).
      - Needed for O(ssl_mode=verify-ca) and O(ssl_mode=verify-full).
    type: str
    aliases: [ssl_rootcert]
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 10
  lock_timeout:
    description:
      - PostgreSQL C(lock_timeout) of the module's transaction, for example V(10s). It is set before anything
        else, so it also bounds the wait for another run deploying the same schema (see notes).
      - Replacing a view waits for queries that read it; the run fails after this time instead of
        queueing every new reader of the view behind it.
    type: str
    default: 10s
  statement_timeout:
    description:
      - PostgreSQL C(statement_timeout) of the module's transaction, for example V(5min); V(0) disables it.
    type: str
    default: 5min
  schema:
    description: Schema that holds the managed objects.
    type: str
    required: true
  owner:
    description: Role that owns the managed functions and views. Security definer functions run as this role.
    type: str
    required: true
  functions:
    description: Functions of the schema, in creation order.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Function name.
        type: str
        required: true
      arguments:
        description: Arguments, C(name type) separated by commas, or empty.
        type: str
        default: ''
      returns:
        description: Result type of a function that returns one value. Mutually exclusive with O(functions[].columns).
        type: str
      columns:
        description:
          - Result columns of a set-returning function (C(RETURNS TABLE)), each a list C([name, type]).
        type: list
        elements: list
      language:
        description: Language of the body.
        type: str
        choices: [sql, plpgsql]
        default: sql
      volatility:
        description: Volatility category.
        type: str
        choices: [immutable, stable, volatile]
        default: volatile
      parallel:
        description: Parallel safety.
        type: str
        choices: [safe, restricted, unsafe]
        default: unsafe
      security_definer:
        description: Whether the function runs with the privileges of O(owner).
        type: bool
        default: false
      settings:
        description:
          - Configuration parameters set while the function runs (C(SET name = value)), for example
            C(search_path) V(pg_catalog, pg_temp). Values are written as given.
        type: dict
        default: {}
      body:
        description: The function body, stored and compared verbatim.
        type: str
        required: true
  views:
    description: Views of the schema; each selects everything from one function of O(functions) without arguments.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: View name.
        type: str
        required: true
      function:
        description: Name of the function of O(functions) the view reads.
        type: str
        required: true
      comment:
        description: Comment on the view (Metabase shows it as the table description).
        type: str
  readers:
    description:
      - Roles that may read the views. Roles that do not exist are skipped with a warning, unless
        O(missing_readers=fail).
    type: list
    elements: str
    default: []
  missing_readers:
    description: What to do when a role of O(readers) does not exist.
    type: str
    choices: [skip, fail]
    default: skip
  column_privileges:
    description:
      - Source tables and the columns of each that O(owner) must be able to read, as a dictionary that
        maps C(schema.table) to a list of column names. Exactly these column privileges are kept for
        O(owner) on these tables; a table-level C(SELECT) of O(owner) on them is revoked.
    type: dict
    default: {}
  source_schemas:
    description:
      - Schemas whose objects the functions read; O(owner) gets C(USAGE) on each (granted when missing,
        never revoked, because the schemas belong to someone else).
    type: list
    elements: str
    default: []
  prune:
    description: Drop functions and views of the schema that belong to O(owner) but are not listed.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Keep the analytics views in place
  cronicorn.monitoring.postgresql_views:
    login_host: 127.0.0.1
    login_user: user
    login_password: "{{ monitoring_db_login_password }}"
    login_db: db
    schema: cronicorn_monitoring
    owner: cronicorn_monitoring_owner
    readers: [metabase_readonly]
    column_privileges:
      public.runs: [endpoint_id, status, started_at]
    functions:
      - name: _runs_per_status_rows
        columns:
          - [status, text]
          - [runs, bigint]
        language: sql
        volatility: stable
        security_definer: true
        settings:
          search_path: pg_catalog, pg_temp
        body: SELECT r.status, count(*) FROM public.runs r GROUP BY r.status
    views:
      - name: runs_per_status
        function: _runs_per_status_rows
        comment: Number of runs per status.
  no_log: true
"""

RETURN = r"""
changed:
  description: Whether anything was (or, in check mode, would be) changed.
  returned: always
  type: bool
actions:
  description: One line per change, in the order applied.
  returned: always
  type: list
  elements: str
  sample:
    - replace function cronicorn_monitoring._admin_top_jobs_rows() (body)
    - grant SELECT on view cronicorn_monitoring.admin_top_jobs to metabase_readonly
queries:
  description: The SQL statements executed (or, in check mode, that would be executed). They hold no secrets.
  returned: always
  type: list
  elements: str
skipped_readers:
  description: Roles of O(readers) that do not exist and were skipped.
  returned: always
  type: list
  elements: str
"""

import re  # noqa: E402  (documentation strings come first in an Ansible module)
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

PSYCOPG2_IMP_ERR = None
try:
    import psycopg2
except ImportError:
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMP_ERR = traceback.format_exc()
else:
    import psycopg2.errors

    HAS_PSYCOPG2 = True

VOLATILITY = {"immutable": "i", "stable": "s", "volatile": "v"}
PARALLEL = {"safe": "s", "restricted": "r", "unsafe": "u"}
VOLATILITY_SQL = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}
PARALLEL_SQL = {"s": "SAFE", "r": "RESTRICTED", "u": "UNSAFE"}


# ---------------------------------------------------------------------------------------------------
# Pure functions: naming, normalisation, SQL text, comparison and planning. No database access.
# ---------------------------------------------------------------------------------------------------


def quote_ident(name):
    """Quote an identifier for SQL (always quoted, so keywords and case are safe)."""
    return '"' + name.replace('"', '""') + '"'


def qualified(schema, name):
    return "%s.%s" % (quote_ident(schema), quote_ident(name))


def split_arguments(arguments):
    """``'a integer, b text'`` -> ``[('a', 'integer'), ('b', 'text')]``."""
    result = []
    for raw in (arguments or "").split(","):
        part = raw.strip()
        if not part:
            continue
        pieces = part.split(None, 1)
        if len(pieces) != 2:
            raise ValueError("argument %r must be written 'name type'" % part)
        result.append((pieces[0], pieces[1].strip()))
    return result


def normalize_setting(value):
    """A SET value as PostgreSQL stores it in proconfig: list items joined by ', ', quotes removed."""
    items = [item.strip() for item in str(value).split(",")]
    return ", ".join(item[1:-1] if len(item) > 1 and item[0] == item[-1] == "'" else item for item in items)


def setting_sql(value):
    """A normalised SET value as SQL: list items that are plain words stay bare, others are quoted."""
    return ", ".join(
        item if re.match(r"^[A-Za-z_][A-Za-z0-9_$]*$", item) else quote_literal(item) for item in value.split(", ")
    )


def parse_proconfig(entries):
    settings = {}
    for entry in entries or []:
        name, _sep, value = entry.partition("=")
        settings[name] = value
    return settings


def dollar_quote(body):
    tag = "body"
    counter = 0
    while "$%s$" % tag in body:
        counter += 1
        tag = "body%d" % counter
    return "$%s$%s$%s$" % (tag, body, tag)


def desired_function(spec, types):
    """The wanted state of one function, normalised with ``types`` (type text -> canonical name)."""
    args = [(name, types[typ]) for name, typ in split_arguments(spec.get("arguments"))]
    columns = None
    if spec.get("columns"):
        columns = [(str(col[0]), types[str(col[1])]) for col in spec["columns"]]
    return {
        "name": spec["name"],
        "identity": input_identity(args),
        "arguments": args,
        "returns": None if columns else types[spec["returns"]],
        "columns": columns,
        "language": spec.get("language") or "sql",
        "volatility": VOLATILITY[spec.get("volatility") or "volatile"],
        "parallel": PARALLEL[spec.get("parallel") or "unsafe"],
        "security_definer": bool(spec.get("security_definer")),
        "settings": dict((k, normalize_setting(v)) for k, v in (spec.get("settings") or {}).items()),
        "body": spec["body"],
    }


def input_identity(arguments):
    """The key of a function's input arguments: ``name type`` pairs, names unquoted, as written.

    The catalog side is built from proargnames and proargtypes, never from the text of
    pg_get_function_identity_arguments(), which quotes names that are keywords (``"from" integer``).
    """
    return ", ".join("%s %s" % (name, typ) for name, typ in arguments)


def function_signature(schema, fn):
    return "%s.%s(%s)" % (schema, fn["name"], fn["identity"])


def function_sql(schema, fn):
    """CREATE OR REPLACE FUNCTION text for a desired function."""
    args = ", ".join("%s %s" % (quote_ident(n), t) for n, t in fn["arguments"])
    if fn["columns"]:
        returns = "TABLE(%s)" % ", ".join("%s %s" % (quote_ident(n), t) for n, t in fn["columns"])
    else:
        returns = fn["returns"]
    lines = [
        "CREATE OR REPLACE FUNCTION %s(%s)" % (qualified(schema, fn["name"]), args),
        " RETURNS %s" % returns,
        " LANGUAGE %s %s%s PARALLEL %s"
        % (
            fn["language"],
            VOLATILITY_SQL[fn["volatility"]],
            " SECURITY DEFINER" if fn["security_definer"] else "",
            PARALLEL_SQL[fn["parallel"]],
        ),
    ]
    for name in sorted(fn["settings"]):
        lines.append(" SET %s = %s" % (name, setting_sql(fn["settings"][name])))
    lines.append("AS " + dollar_quote(fn["body"]))
    return "\n".join(lines)


def view_sql(schema, view, replace=False):
    # every name is quoted by quote_ident
    return "CREATE %sVIEW %s AS SELECT * FROM %s()" % (  # noqa: S608
        "OR REPLACE " if replace else "",
        qualified(schema, view["name"]),
        qualified(schema, view["function"]),
    )


def function_differences(current, desired, owner):
    """Attributes of ``current`` (catalog row dict) that differ from ``desired``; [] when equal."""
    diffs = []
    if current["columns"] != desired["columns"] or current["returns"] != desired["returns"]:
        diffs.append("result")
    for key in ("language", "volatility", "parallel", "security_definer", "settings"):
        if current[key] != desired[key]:
            diffs.append(key)
    if current.get("strict"):
        diffs.append("strict")
    if current["body"] != desired["body"]:
        diffs.append("body")
    if current["owner"] != owner:
        diffs.append("owner")
    return diffs


_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_VIEW_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<items>%(i)s\.%(i)s(?:\s*,\s*%(i)s\.%(i)s)*)\s+FROM\s+(?P<schema>%(i)s)\.(?P<function>%(i)s)\(\)"
    r"(?:\s+%(i)s(?:\s*\([^()]*\))?)?\s*;?\s*$" % {"i": _IDENT},
    re.S,
)


def unquote_ident(text):
    return text[1:-1].replace('""', '"') if text.startswith('"') else text


def view_query_matches(definition, schema, function, column_names):
    """Whether pg_get_viewdef text is exactly "SELECT every column, in order, FROM schema.function()".

    Anything else (a WHERE, a join, an expression, a renamed or reordered column) does not match.
    """
    match = _VIEW_QUERY.match(definition or "")
    if not match:
        return False
    if unquote_ident(match.group("schema")) != schema or unquote_ident(match.group("function")) != function:
        return False
    items = re.findall(r"%(i)s\.(%(i)s)" % {"i": _IDENT}, match.group("items"))
    return [unquote_ident(item) for item in items] == list(column_names)


def view_differences(current, desired, *, function_oid, function_columns, owner, schema):
    diffs = []
    if (
        current["depends_on"] != [function_oid]
        or current["columns"] != function_columns
        or not view_query_matches(current["definition"], schema, desired["function"], [c[0] for c in function_columns])
    ):
        diffs.append("query")
    if current["owner"] != owner:
        diffs.append("owner")
    if (current.get("comment") or None) != (desired.get("comment") or None):
        diffs.append("comment")
    return diffs


def exact_grants(current, wanted):
    """Grant/revoke lists that turn ``current`` ({grantee: set(privs)}) into ``wanted``.

    Returns (grants, revokes) as sorted lists of (grantee, privilege).
    """
    grants, revokes = [], []
    for grantee in sorted(set(current) | set(wanted)):
        have = current.get(grantee, set())
        want = wanted.get(grantee, set())
        grants.extend((grantee, p) for p in sorted(want - have))
        revokes.extend((grantee, p) for p in sorted(have - want))
    return grants, revokes


def grantee_sql(grantee):
    return "PUBLIC" if grantee == "PUBLIC" else quote_ident(grantee)


class Plan:
    """The statements of a run, with one human-readable action each and a before/after text for the diff."""

    def __init__(self):
        self.statements = []
        self.actions = []
        self.before = []
        self.after = []

    def add(self, action, statement):
        self.actions.append(action)
        self.statements.append(statement)

    def show(self, before, after):
        self.before.append(before)
        self.after.append(after)

    @property
    def changed(self):
        return bool(self.statements)


class _Context:
    """What the planning steps share: parameters, catalog state and the wanted functions."""

    def __init__(self, state, params, types):
        self.state, self.params = state, params
        self.schema, self.owner = params["schema"], params["owner"]
        self.functions = [desired_function(spec, types) for spec in params["functions"]]
        self.by_key = dict(((fn["name"], fn["identity"]), fn) for fn in self.functions)
        self.view_functions = set(v["function"] for v in params["views"])
        self.current_functions = state["functions"]
        self.current_views = state["views"]
        self.readers = state["readers"]
        self.dropped_functions = set()
        self.dropped_views = []

    def fresh_function(self, key):
        return key not in self.current_functions or key in self.dropped_functions

    def fresh_view(self, name):
        return name not in self.current_views or name in self.dropped_views


def plan_changes(state, params, types):
    """Every statement that makes ``state`` (see read_state) match ``params``, in execution order.

    ``types`` maps every type text of the parameters to its canonical name. Pure: no database access.
    """
    ctx = _Context(state, params, types)
    for view in params["views"]:
        matches = [fn for fn in ctx.functions if fn["name"] == view["function"] and not fn["arguments"]]
        if not matches or not matches[0]["columns"]:
            raise ValueError(
                "view %s: function %s must be listed in functions, without arguments and with columns"
                % (view["name"], view["function"])
            )
    plan = Plan()
    _plan_drops(ctx, plan)
    _plan_functions(ctx, plan)
    _plan_views(ctx, plan)
    _plan_privileges(ctx, plan)
    _plan_source_access(ctx, plan)
    return plan


def _plan_drops(ctx, plan):
    """Views first (pruned, reading a dropped function, or of another shape), then functions (pruned, or
    whose result type changes: CREATE OR REPLACE cannot change it, they are created again later)."""
    ctx.dropped_functions.update(_functions_to_drop(ctx))
    dropped_oids = set(ctx.current_functions[k]["oid"] for k in ctx.dropped_functions)
    for name in sorted(ctx.current_views):
        cur = ctx.current_views[name]
        wanted = [v for v in ctx.params["views"] if v["name"] == name]
        reads_dropped = bool(dropped_oids & set(cur["depends_on"]))
        if not wanted:
            if ctx.params["prune"] and cur["owner"] == ctx.owner:
                ctx.dropped_views.append(name)
            elif reads_dropped:
                raise ValueError(
                    "view %s.%s reads a function that must be dropped, but it is not managed" % (ctx.schema, name)
                )
            continue
        fkey = (wanted[0]["function"], "")
        if reads_dropped or fkey not in ctx.current_functions or cur["columns"] != ctx.by_key[fkey]["columns"]:
            ctx.dropped_views.append(name)
    for name in ctx.dropped_views:
        plan.add("drop view %s.%s" % (ctx.schema, name), "DROP VIEW %s" % qualified(ctx.schema, name))
        plan.show("-- view %s.%s\n%s\n" % (ctx.schema, name, ctx.current_views[name]["definition"]), "")
    for key in sorted(ctx.dropped_functions):
        cur = ctx.current_functions[key]
        signature = "%s.%s(%s)" % (ctx.schema, key[0], key[1])
        plan.add(
            "drop function %s" % signature,
            "DROP FUNCTION %s(%s)" % (qualified(ctx.schema, key[0]), cur["identity_args_sql"]),
        )
        if key not in ctx.by_key:
            plan.show("-- function %s\n%s\n" % (signature, cur["definition"]), "")


def _functions_to_drop(ctx):
    keys = set()
    for key, fn in ctx.by_key.items():
        cur = ctx.current_functions.get(key)
        if cur and "result" in function_differences(cur, fn, ctx.owner):
            keys.add(key)
    if ctx.params["prune"]:
        keys.update(k for k, cur in ctx.current_functions.items() if k not in ctx.by_key and cur["owner"] == ctx.owner)
    return keys


def _plan_functions(ctx, plan):
    for fn in ctx.functions:
        key = (fn["name"], fn["identity"])
        cur = ctx.current_functions.get(key)
        signature = function_signature(ctx.schema, fn)
        diffs = ["new"] if cur is None else function_differences(cur, fn, ctx.owner)
        if not diffs:
            continue
        if diffs != ["owner"]:
            verb = "create" if cur is None else ("recreate" if key in ctx.dropped_functions else "replace")
            text = function_sql(ctx.schema, fn)
            plan.add("%s function %s (%s)" % (verb, signature, ", ".join(diffs)), text)
            plan.show(
                "-- function %s\n%s\n" % (signature, cur["definition"] if cur else ""),
                "-- function %s\n%s\n" % (signature, text),
            )
        if ctx.fresh_function(key) or cur["owner"] != ctx.owner:
            input_types = ", ".join(t for _n, t in fn["arguments"])
            plan.add(
                "set owner of function %s to %s" % (signature, ctx.owner),
                "ALTER FUNCTION %s(%s) OWNER TO %s"
                % (qualified(ctx.schema, fn["name"]), input_types, quote_ident(ctx.owner)),
            )
            if diffs == ["owner"]:
                plan.show(
                    "-- owner of function %s\n%s\n" % (signature, cur["owner"]),
                    "-- owner of function %s\n%s\n" % (signature, ctx.owner),
                )


def _plan_views(ctx, plan):
    for view in ctx.params["views"]:
        name, label = view["name"], "%s.%s" % (ctx.schema, view["name"])
        cur = ctx.current_views.get(name)
        fkey = (view["function"], "")
        fresh = ctx.fresh_view(name)
        if fresh:
            diffs = ["new"]
        else:
            cur_fn = ctx.current_functions.get(fkey)
            diffs = view_differences(
                cur,
                view,
                function_oid=cur_fn["oid"] if cur_fn else None,
                function_columns=ctx.by_key[fkey]["columns"],
                owner=ctx.owner,
                schema=ctx.schema,
            )
        if not diffs:
            continue
        if fresh or "query" in diffs:
            plan.add(
                "%s view %s" % ("create" if fresh else "replace", label), view_sql(ctx.schema, view, replace=not fresh)
            )
            plan.show(
                "-- view %s\n%s\n" % (label, "" if fresh else cur["definition"]),
                "-- view %s\nSELECT * FROM %s.%s()\n" % (label, ctx.schema, view["function"]),
            )
        if fresh or "owner" in diffs:
            plan.add(
                "set owner of view %s to %s" % (label, ctx.owner),
                "ALTER VIEW %s OWNER TO %s" % (qualified(ctx.schema, name), quote_ident(ctx.owner)),
            )
        comment = view.get("comment")
        if (fresh and comment) or "comment" in diffs:
            literal = "NULL" if comment is None else quote_literal(comment)
            plan.add(
                "set comment of view %s" % label, "COMMENT ON VIEW %s IS %s" % (qualified(ctx.schema, name), literal)
            )
            if not fresh:
                plan.show(
                    "-- comment of view %s\n%s\n" % (label, cur.get("comment")),
                    "-- comment of view %s\n%s\n" % (label, comment),
                )


def _plan_privileges(ctx, plan):
    """Exact privileges on the managed objects (the owner's own are implicit); USAGE on the schema."""
    for fn in ctx.functions:
        key = (fn["name"], fn["identity"])
        fresh = ctx.fresh_function(key)
        have = (
            {"PUBLIC": set(["EXECUTE"])} if fresh else dict(ctx.current_functions[key]["acl"])
        )  # CREATE grants PUBLIC
        have.pop(ctx.owner, None)
        want = dict((r, set(["EXECUTE"])) for r in ctx.readers) if fn["name"] in ctx.view_functions else {}
        target = "FUNCTION %s(%s)" % (qualified(ctx.schema, fn["name"]), ", ".join(t for _n, t in fn["arguments"]))
        _privilege_statements(
            plan, "function " + function_signature(ctx.schema, fn), target, exact_grants(have, want), show=not fresh
        )
    for view in ctx.params["views"]:
        fresh = ctx.fresh_view(view["name"])
        have = {} if fresh else dict(ctx.current_views[view["name"]]["acl"])
        have.pop(ctx.owner, None)
        want = dict((r, set(["SELECT"])) for r in ctx.readers)
        label = "view %s.%s" % (ctx.schema, view["name"])
        _privilege_statements(
            plan, label, "TABLE %s" % qualified(ctx.schema, view["name"]), exact_grants(have, want), show=not fresh
        )
    for reader in ctx.readers:
        if "USAGE" not in ctx.state["schema_acl"].get(reader, set()):
            plan.add(
                "grant USAGE on schema %s to %s" % (ctx.schema, reader),
                "GRANT USAGE ON SCHEMA %s TO %s" % (quote_ident(ctx.schema), quote_ident(reader)),
            )
            plan.show(
                "-- privileges of %s on schema %s\n\n" % (reader, ctx.schema),
                "-- privileges of %s on schema %s\nUSAGE\n" % (reader, ctx.schema),
            )


def _privilege_statements(plan, label, target, changes, show):
    grants, revokes = changes
    by_grantee = {}
    for grantee, priv in grants:
        by_grantee.setdefault(("GRANT", grantee), []).append(priv)
    for grantee, priv in revokes:
        by_grantee.setdefault(("REVOKE", grantee), []).append(priv)
    for (verb, grantee), privs in sorted(by_grantee.items()):
        joined = ", ".join(sorted(privs))
        if verb == "GRANT":
            plan.add(
                "grant %s on %s to %s" % (joined, label, grantee),
                "GRANT %s ON %s TO %s" % (joined, target, grantee_sql(grantee)),
            )
        else:
            plan.add(
                "revoke %s on %s from %s" % (joined, label, grantee),
                "REVOKE %s ON %s FROM %s" % (joined, target, grantee_sql(grantee)),
            )
        if show:
            before = "not granted" if verb == "GRANT" else joined
            after = joined if verb == "GRANT" else "revoked"
            plan.show("-- %s, %s: %s\n" % (label, grantee, before), "-- %s, %s: %s\n" % (label, grantee, after))


def _plan_source_access(ctx, plan):
    """What the owner reads: USAGE on the source schemas (granted, never revoked), and exactly the listed
    column privileges on the source tables (a table-level grant is narrowed to the columns)."""
    owner = quote_ident(ctx.owner)
    for source in ctx.params["source_schemas"]:
        if not ctx.state["source_usage"].get(source, False):
            plan.add(
                "grant USAGE on schema %s to %s" % (source, ctx.owner),
                "GRANT USAGE ON SCHEMA %s TO %s" % (quote_ident(source), owner),
            )
            plan.show(
                "-- privileges of %s on schema %s\n\n" % (ctx.owner, source),
                "-- privileges of %s on schema %s\nUSAGE\n" % (ctx.owner, source),
            )
    for table in sorted(ctx.params["column_privileges"]):
        wanted = set(ctx.params["column_privileges"][table])
        cur = ctx.state["columns"].get(table, {"table_select": False, "columns": set()})
        missing = sorted(wanted) if cur["table_select"] else sorted(wanted - cur["columns"])
        extra = sorted(cur["columns"] - wanted)
        if cur["table_select"]:
            plan.add(
                "narrow the table-level read grant of %s on %s" % (ctx.owner, table),
                "REVOKE SELECT ON TABLE %s FROM %s" % (table_sql(table), owner),  # noqa: S608 (quoted names)
            )
        if missing:
            columns = ", ".join(quote_ident(c) for c in missing)
            plan.add(
                "grant read of %s on %s to %s" % (", ".join(missing), table, ctx.owner),
                "GRANT SELECT (%s) ON TABLE %s TO %s" % (columns, table_sql(table), owner),
            )
        if extra:
            columns = ", ".join(quote_ident(c) for c in extra)
            plan.add(
                "revoke read of %s on %s from %s" % (", ".join(extra), table, ctx.owner),
                "REVOKE SELECT (%s) ON TABLE %s FROM %s" % (columns, table_sql(table), owner),  # noqa: S608 (quoted)
            )
        if missing or extra or cur["table_select"]:
            current = "(whole table)" if cur["table_select"] else ", ".join(sorted(cur["columns"]))
            plan.show(
                "-- columns of %s that %s reads\n%s\n" % (table, ctx.owner, current),
                "-- columns of %s that %s reads\n%s\n" % (table, ctx.owner, ", ".join(sorted(wanted))),
            )


def quote_literal(text):
    return "'" + text.replace("'", "''") + "'"


def table_sql(table):
    schema, _sep, name = table.rpartition(".")
    return qualified(schema or "public", name)


def type_texts(params):
    """Every type text used by the parameters (resolved to canonical names by the server)."""
    texts = set()
    for spec in params["functions"]:
        for _name, typ in split_arguments(spec.get("arguments")):
            texts.add(typ)
        if spec.get("columns"):
            texts.update(str(col[1]) for col in spec["columns"])
        elif spec.get("returns"):
            texts.add(spec["returns"])
    return sorted(texts)


def validate(params):
    """Parameter checks that need no database; returns an error message or None."""
    problems = []
    seen = set()
    for spec in params["functions"]:
        if bool(spec.get("columns")) == bool(spec.get("returns")):
            problems.append("function %s: give exactly one of returns and columns" % spec["name"])
        if any(len(col) != 2 for col in spec.get("columns") or []):
            problems.append("function %s: every column must be [name, type]" % spec["name"])
        try:
            key = (spec["name"], tuple(t for _n, t in split_arguments(spec.get("arguments"))))
        except ValueError as exc:
            problems.append("function %s: %s" % (spec["name"], exc))
            continue
        if key in seen:
            problems.append("function %s is listed twice with the same arguments" % spec["name"])
        seen.add(key)
    names = [v["name"] for v in params["views"]]
    if len(names) != len(set(names)):
        problems.append("a view is listed twice")
    if params["owner"] in (params["readers"] or []):
        problems.append("owner %s cannot also be a reader" % params["owner"])
    return "; ".join(problems) or None


# ---------------------------------------------------------------------------------------------------
# Catalog access.
# ---------------------------------------------------------------------------------------------------

FUNCTIONS_SQL = """
SELECT p.oid, p.proname,
       (SELECT array_agg(ARRAY[coalesce(a.name, ''), format_type(a.typ, NULL)] ORDER BY a.ord)
          FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]),
                      coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs::int])),
                      p.proargnames) WITH ORDINALITY AS a(typ, mode, name, ord)
         WHERE a.mode IN ('i', 'b', 'v')),
       l.lanname, p.provolatile, p.proparallel,
       p.prosecdef, p.proisstrict, p.proconfig, p.prosrc, pg_get_userbyid(p.proowner), p.proretset,
       format_type(p.prorettype, NULL),
       (SELECT array_agg(ARRAY[a.name, format_type(a.typ, NULL)] ORDER BY a.ord)
          FROM unnest(p.proallargtypes, p.proargmodes, p.proargnames) WITH ORDINALITY AS a(typ, mode, name, ord)
         WHERE a.mode = 't'),
       (SELECT array_agg(ARRAY[CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END,
                               x.privilege_type])
          FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x),
       pg_get_functiondef(p.oid),
       (SELECT string_agg(format_type(t, NULL), ', ' ORDER BY o)
          FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS i(t, o))
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE n.nspname = %s AND p.prokind = 'f'
"""

VIEWS_SQL = """
SELECT c.oid, c.relname, pg_get_userbyid(c.relowner), pg_get_viewdef(c.oid), obj_description(c.oid, 'pg_class'),
       (SELECT array_agg(ARRAY[a.attname::text, format_type(a.atttypid, a.atttypmod)] ORDER BY a.attnum)
          FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
       (SELECT array_agg(DISTINCT CASE WHEN d.refclassid = 'pg_proc'::regclass THEN d.refobjid::bigint ELSE -1 END)
          FROM pg_rewrite rw
          JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid AND d.deptype = 'n'
         WHERE rw.ev_class = c.oid AND NOT (d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid)),
       (SELECT array_agg(ARRAY[CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END,
                               x.privilege_type])
          FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) x)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind = 'v'
"""

SCHEMA_SQL = """
SELECT pg_get_userbyid(n.nspowner),
       (SELECT array_agg(ARRAY[CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END,
                               x.privilege_type])
          FROM aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) x)
FROM pg_namespace n WHERE n.nspname = %s
"""

COLUMNS_SQL = """
SELECT EXISTS (SELECT 1 FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) x
                WHERE x.grantee = r.oid AND x.privilege_type = 'SELECT'),
       coalesce((SELECT array_agg(a.attname::text ORDER BY a.attname)
                   FROM pg_attribute a, aclexplode(a.attacl) x
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                    AND x.grantee = r.oid AND x.privilege_type = 'SELECT'), '{}')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN pg_roles r
WHERE n.nspname = %s AND c.relname = %s AND r.rolname = %s
"""


def _acl(pairs):
    acl = {}
    for grantee, priv in pairs or []:
        acl.setdefault(grantee, set()).add(priv)
    return acl


def read_state(cursor, params):
    """Everything plan_changes compares, from the catalog (read-only queries)."""
    schema = params["schema"]
    state = {
        "functions": {},
        "views": {},
        "schema_acl": {},
        "columns": {},
        "readers": [],
        "missing_readers": [],
        "source_usage": {},
    }
    cursor.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", ([*params["readers"], params["owner"]],))
    existing = set(row[0] for row in cursor.fetchall())
    state["owner_exists"] = params["owner"] in existing
    state["readers"] = [r for r in params["readers"] if r in existing]
    state["missing_readers"] = [r for r in params["readers"] if r not in existing]
    cursor.execute(SCHEMA_SQL, (schema,))
    row = cursor.fetchone()
    state["schema_exists"] = row is not None
    if row:
        state["schema_acl"] = _acl(row[1])
    cursor.execute(FUNCTIONS_SQL, (schema,))
    for row in cursor.fetchall():
        (
            oid,
            name,
            identity,
            lang,
            volatility,
            parallel,
            secdef,
            strict,
            config,
            body,
            owner,
            retset,
            rettype,
            columns,
            acl,
            definition,
            input_types,
        ) = row
        identity = input_identity((arg[0], arg[1]) for arg in identity or [])
        state["functions"][(name, identity)] = {
            "oid": int(oid),
            "identity_args_sql": input_types or "",
            "columns": [(c[0], c[1]) for c in columns] if (retset and columns) else None,
            "returns": None if (retset and columns) else ("SETOF " + rettype if retset else rettype),
            "language": lang,
            "volatility": volatility,
            "parallel": parallel,
            "security_definer": bool(secdef),
            "strict": bool(strict),
            "settings": parse_proconfig(config),
            "body": body,
            "owner": owner,
            "acl": _acl(acl),
            "definition": definition,
        }
    cursor.execute(VIEWS_SQL, (schema,))
    for row in cursor.fetchall():
        oid, name, owner, definition, comment, columns, depends, acl = row
        state["views"][name] = {
            "oid": int(oid),
            "owner": owner,
            "definition": definition,
            "comment": comment,
            "columns": [(c[0], c[1]) for c in columns or []],
            "depends_on": sorted(int(d) for d in depends or []),
            "acl": _acl(acl),
        }
    if state["owner_exists"]:
        for source in params["source_schemas"]:
            cursor.execute(
                "SELECT n.nspname, EXISTS (SELECT 1 FROM aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) x"
                " WHERE x.grantee = r.oid AND x.privilege_type = 'USAGE') OR n.nspowner = r.oid"
                " FROM pg_namespace n CROSS JOIN pg_roles r WHERE n.nspname = %s AND r.rolname = %s",
                (source, params["owner"]),
            )
            row = cursor.fetchone()
            if row is None:
                raise LookupError("schema %s does not exist" % source)
            state["source_usage"][source] = bool(row[1])
        for table in params["column_privileges"]:
            tschema, _sep, tname = table.rpartition(".")
            cursor.execute(COLUMNS_SQL, (tschema or "public", tname, params["owner"]))
            row = cursor.fetchone()
            if row is None:
                raise LookupError("table %s does not exist" % table)
            state["columns"][table] = {"table_select": bool(row[0]), "columns": set(row[1])}
    return state


def resolve_types(cursor, texts):
    types = {}
    for text in texts:
        cursor.execute("SELECT format_type(to_regtype(%s), NULL)", (text,))
        value = cursor.fetchone()[0]
        if value is None:
            raise LookupError("type %s does not exist" % text)
        types[text] = value
    return types


def _connect(params):
    kwargs = {
        "host": params["login_host"],
        "port": params["login_port"],
        "user": params["login_user"],
        "dbname": params["login_db"],
        "sslmode": params["ssl_mode"],
        "connect_timeout": params["connect_timeout"],
        "application_name": "cronicorn.monitoring.postgresql_views",
    }
    if params["login_password"]:
        kwargs["password"] = params["login_password"]
    if params["ca_cert"]:
        kwargs["sslrootcert"] = params["ca_cert"]
    return psycopg2.connect(**kwargs)


def connection_problem(params):
    """Why the connection parameters cannot work, or None (checked before connecting)."""
    if params["ssl_mode"] in ("verify-ca", "verify-full") and not params["ca_cert"]:
        return (
            "ssl_mode=%s needs ca_cert: the file of the certificate authority that signed the server's "
            "certificate (or ca_cert=system for the system's trusted roots)" % params["ssl_mode"]
        )
    return None


def start_transaction(cursor, params):
    """Bound every wait of the transaction first, then take the schema's advisory lock.

    Returns None, or a message when another run holds the lock longer than lock_timeout.
    """
    cursor.execute(
        "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
        (params["lock_timeout"], params["statement_timeout"]),
    )
    # One deployment at a time per schema (an advisory lock writes nothing).
    try:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("cronicorn.monitoring:" + params["schema"],)
        )
    except (psycopg2.errors.LockNotAvailable, psycopg2.errors.QueryCanceled):
        return (
            "another run is deploying schema %s in database %s (it holds the advisory lock); gave up after "
            "lock_timeout=%s. Run again when it has finished; pg_locks shows the session (locktype advisory)."
            % (params["schema"], params["login_db"], params["lock_timeout"])
        )
    return None


def _pg_message(exc):
    """psycopg2's own message (server text), never connection parameters."""
    text = getattr(exc, "pgerror", None) or str(exc)
    return " ".join(text.split())


def argument_spec():
    function_spec = dict(
        name=dict(type="str", required=True),
        arguments=dict(type="str", default=""),
        returns=dict(type="str"),
        columns=dict(type="list", elements="list"),
        language=dict(type="str", choices=["sql", "plpgsql"], default="sql"),
        volatility=dict(type="str", choices=["immutable", "stable", "volatile"], default="volatile"),
        parallel=dict(type="str", choices=["safe", "restricted", "unsafe"], default="unsafe"),
        security_definer=dict(type="bool", default=False),
        settings=dict(type="dict", default={}),
        body=dict(type="str", required=True),
    )
    view_spec = dict(
        name=dict(type="str", required=True),
        function=dict(type="str", required=True),
        comment=dict(type="str"),
    )
    return dict(
        login_host=dict(type="str", default="127.0.0.1"),
        login_port=dict(type="int", default=5432, aliases=["port"]),
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", no_log=True),
        login_db=dict(type="str", required=True, aliases=["db"]),
        ssl_mode=dict(
            type="str",
            default="prefer",
            choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        ),
        ca_cert=dict(type="str", aliases=["ssl_rootcert"]),
        connect_timeout=dict(type="int", default=10),
        lock_timeout=dict(type="str", default="10s"),
        statement_timeout=dict(type="str", default="5min"),
        schema=dict(type="str", required=True),
        owner=dict(type="str", required=True),
        functions=dict(type="list", elements="dict", default=[], options=function_spec),
        views=dict(type="list", elements="dict", default=[], options=view_spec),
        readers=dict(type="list", elements="str", default=[]),
        missing_readers=dict(type="str", choices=["skip", "fail"], default="skip"),
        column_privileges=dict(type="dict", default={}),
        source_schemas=dict(type="list", elements="str", default=[]),
        prune=dict(type="bool", default=True),
    )


def apply_plan(cursor, params, types, plan, *, result, progress):
    """Execute the plan, then read the catalog again in the same transaction and apply what is still
    missing: privileges that default privileges (ALTER DEFAULT PRIVILEGES of the login role) gave the
    new objects are removed at once, so that the next run has nothing left to change."""
    for _round in range(3):
        for statement in plan.statements:
            progress["step"] = statement.splitlines()[0]
            cursor.execute(statement)
        progress["step"] = "reading the catalog again"
        plan = plan_changes(read_state(cursor, params), params, types)
        if not plan.changed:
            return
        result["actions"].extend(plan.actions)
        result["queries"].extend(plan.statements)
    raise ValueError("the definitions do not converge; still to do: %s" % "; ".join(plan.actions))


def run_module():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=PSYCOPG2_IMP_ERR)
    params = module.params
    problem = validate(params) or connection_problem(params)
    if problem:
        module.fail_json(msg=problem)
    result = dict(changed=False, actions=[], queries=[], skipped_readers=[])
    try:
        conn = _connect(params)
    except psycopg2.Error as exc:
        module.fail_json(msg="cannot connect to PostgreSQL: %s" % _pg_message(exc), **result)
    progress = {"step": "reading the catalog"}
    try:
        conn.autocommit = False
        cursor = conn.cursor()
        progress["step"] = "waiting for the schema's advisory lock"
        busy = start_transaction(cursor, params)
        if busy:
            conn.rollback()
            module.fail_json(msg=busy, **result)
        progress["step"] = "reading the catalog"
        state = read_state(cursor, params)
        if state["missing_readers"] and params["missing_readers"] == "fail":
            module.fail_json(msg="reader roles do not exist: %s" % ", ".join(state["missing_readers"]), **result)
        for reader in state["missing_readers"]:
            module.warn("reader role %s does not exist: no privileges granted to it" % reader)
        result["skipped_readers"] = state["missing_readers"]
        types = resolve_types(cursor, type_texts(params))
        plan = plan_changes(state, params, types)
        result.update(changed=plan.changed, actions=list(plan.actions), queries=list(plan.statements))
        if module._diff and plan.changed:
            result["diff"] = dict(
                before_header="%s (current)" % params["schema"],
                after_header="%s (wanted)" % params["schema"],
                before="".join(plan.before),
                after="".join(plan.after),
            )
        if module.check_mode or not plan.changed:
            conn.rollback()
            module.exit_json(**result)
        if not (state["schema_exists"] and state["owner_exists"]):
            module.fail_json(
                msg="schema %s and role %s must exist before the views are created"
                % (params["schema"], params["owner"]),
                **result,
            )
        progress["step"] = "applying the changes"
        apply_plan(cursor, params, types, plan, result=result, progress=progress)
        conn.commit()
    except (psycopg2.Error, LookupError, ValueError) as exc:
        conn.rollback()
        message = _pg_message(exc) if isinstance(exc, psycopg2.Error) else str(exc)
        module.fail_json(msg="%s failed: %s" % (progress["step"], message), **result)
    finally:
        conn.close()
    module.exit_json(**result)


def main():
    run_module()


if __name__ == "__main__":
    main()

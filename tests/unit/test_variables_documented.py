"""The variable reference of docs/production.md agrees with the roles, and the roles agree with themselves.

For every role under roles/:

- it has meta/argument_specs.yml with a ``main`` entry point (so a new role cannot escape the checks);
- every option of every entry point is a row of the role's table in docs/production.md, and every row
  names an option of the spec;
- every public key of defaults/main.yml is an option of ``main``, every option of ``main`` that is not
  ``required`` has a value in defaults/main.yml, a required option has none, a default the spec states
  equals the one of defaults/main.yml, and that value has the spec's type;
- the Default column says ``required`` for a required option, ``—`` for an option without a default, and
  otherwise the value of defaults/main.yml (compared as YAML values, not as text).

Variables whose names start with ``_`` are the roles' internal ones and are not checked.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES_DIR = REPO / "roles"
DOC = REPO / "docs" / "production.md"
DOC_NAME = "docs/production.md"
NAMESPACE = "cronicorn.monitoring"
REFERENCE_HEADING = "## Variable reference"
TABLE_HEADER = ["Variable", "Default", "Description"]
REQUIRED = "required"
NO_DEFAULT = "—"

ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
ROLES_WITH_SPEC = [role for role in ROLES if (ROLES_DIR / role / "meta" / "argument_specs.yml").is_file()]

ROLE_HEADING = re.compile(r"^### (?P<name>\S+)\s*$")
VARIABLE_CELL = re.compile(r"^`(?P<name>[A-Za-z_][A-Za-z0-9_]*)`$")
CODE_CELL = re.compile(r"^`(?P<code>[^`]*)`$")
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
SEPARATOR_CELL = re.compile(r"^:?-{3,}:?$")

# Python types a (non-templated) value of defaults/main.yml may have, per argument spec type.
SPEC_TYPES = {
    "str": (str,),
    "path": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def is_internal(name):
    return name.startswith("_")


def is_template(value):
    return isinstance(value, str) and "{{" in value


def canonical(value):
    """A text that differs whenever two YAML values differ, types included (5432 vs "5432", true vs 1)."""
    if isinstance(value, str):
        value = value.strip()
    elif isinstance(value, list):
        value = [canonical(item) for item in value]
    elif isinstance(value, dict):
        value = {str(key): canonical(item) for key, item in value.items()}
    return json.dumps(value, sort_keys=True, default=repr)


def has_type(value, spec_type):
    """Whether a value of defaults/main.yml has the spec's type. A Jinja template is only typed once it is
    rendered, and null is the absence of a value; both pass."""
    allowed = SPEC_TYPES.get(spec_type)
    if allowed is None or value is None or is_template(value):
        return True
    if isinstance(value, bool) and spec_type != "bool":
        return False  # YAML's true is no number
    return isinstance(value, allowed)


def shown(value):
    return json.dumps(value, default=repr)


# ---------------------------------------------------------------------------------------------------------
# Reading the roles


@functools.cache
def load_spec(role):
    """{entry point: {option: its spec}} of a role's meta/argument_specs.yml."""
    data = yaml.safe_load((ROLES_DIR / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8")) or {}
    entry_points = data.get("argument_specs") or {}
    return {name: (entry or {}).get("options") or {} for name, entry in entry_points.items()}


@functools.cache
def load_defaults(role):
    path = ROLES_DIR / role / "defaults" / "main.yml"
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


# ---------------------------------------------------------------------------------------------------------
# Reading docs/production.md


@dataclass
class Row:
    line: int
    default: str
    description: str


@dataclass
class RoleTable:
    line: int
    rows: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)


@dataclass
class Reference:
    tables: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)


def split_row(line):
    """Cells of a Markdown table row; ``\\|`` is a pipe inside a cell (as GitHub requires in code spans)."""
    inner = line.strip()
    inner = inner.removeprefix("|")
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [cell.strip().replace("\\|", "|") for cell in UNESCAPED_PIPE.split(inner)]


def parse_table(lines, table):
    """Fill ``table`` from the Markdown table lines (number, text) of one role's subsection."""
    if not lines:
        table.problems.append(f"line {table.line}: the subsection has no table")
        return
    (header_line, header), *rest = lines
    if split_row(header) != TABLE_HEADER:
        table.problems.append(
            f"line {header_line}: the table header must be '| {' | '.join(TABLE_HEADER)} |', not {header.strip()!r}"
        )
        return
    if not rest or not all(SEPARATOR_CELL.match(cell) for cell in split_row(rest[0][1])):
        table.problems.append(f"line {header_line}: the table header is not followed by a separator row")
        return
    for number, text in rest[1:]:
        cells = split_row(text)
        if len(cells) != len(TABLE_HEADER):
            table.problems.append(f"line {number}: expected {len(TABLE_HEADER)} cells, found {len(cells)}: {text!r}")
            continue
        variable, default, description = cells
        match = VARIABLE_CELL.match(variable)
        if not match:
            table.problems.append(f"line {number}: the Variable cell must be one `name`, not {variable!r}")
            continue
        name = match["name"]
        if name in table.rows:
            table.problems.append(f"line {number}: {name} is listed twice (first on line {table.rows[name].line})")
            continue
        if not default:
            table.problems.append(f"line {number}: {name} has an empty Default cell")
        if not description:
            table.problems.append(f"line {number}: {name} has an empty Description cell")
        table.rows[name] = Row(number, default, description)


@functools.cache
def load_reference():
    reference = Reference()
    if not DOC.is_file():
        reference.problems.append(f"{DOC_NAME} does not exist")
        return reference
    lines = DOC.read_text(encoding="utf-8").splitlines()
    starts = [i for i, text in enumerate(lines) if text.strip() == REFERENCE_HEADING]
    if len(starts) != 1:
        reference.problems.append(f"{DOC_NAME} must have exactly one '{REFERENCE_HEADING}' section")
        return reference
    current = None
    table_lines = []

    def close():
        if current is not None:
            parse_table(table_lines, reference.tables[current])

    for index in range(starts[0] + 1, len(lines)):
        text, number = lines[index], index + 1
        if text.startswith("## "):
            break  # the next section
        heading = ROLE_HEADING.match(text)
        if heading:
            close()
            current, table_lines = None, []
            name = heading["name"].strip("`")
            if not name.startswith(NAMESPACE + "."):
                reference.problems.append(f"line {number}: a role heading must be '### {NAMESPACE}.<role>'")
                continue
            role = name.removeprefix(NAMESPACE + ".")
            if role in reference.tables:
                reference.problems.append(f"line {number}: the role {role} has two subsections")
                continue
            current = role
            reference.tables[role] = RoleTable(number)
        elif text.startswith("|") and current is not None:
            table_lines.append((number, text))
    close()
    return reference


def role_table(role):
    reference = load_reference()
    assert not reference.problems, "\n".join(reference.problems)
    table = reference.tables.get(role)
    assert table is not None, f"{DOC_NAME} has no '### {NAMESPACE}.{role}' subsection under '{REFERENCE_HEADING}'"
    assert not table.problems, f"{DOC_NAME}, table of {role}:\n  " + "\n  ".join(table.problems)
    assert len(table.rows) > 0, f"{DOC_NAME}: the table of {role} has no rows"
    return table


def report(role, what, problems):
    return f"{role}: {what}:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------------------------------------------------
# The tests


def test_roles_are_found():
    assert len(ROLES) > 0, f"no role directory under {ROLES_DIR}"
    assert len(ROLES_WITH_SPEC) > 0, "no role has meta/argument_specs.yml: nothing would be checked"
    assert "postgres" in ROLES_WITH_SPEC  # the roles directory is the one expected


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_an_argument_spec(role):
    path = ROLES_DIR / role / "meta" / "argument_specs.yml"
    assert path.is_file(), (
        f"{role}: roles/{role}/meta/argument_specs.yml is missing (every role validates its variables)"
    )
    spec = load_spec(role)
    assert "main" in spec, f"{role}: roles/{role}/meta/argument_specs.yml has no 'main' entry point"
    assert spec["main"], f"{role}: the 'main' entry point of roles/{role}/meta/argument_specs.yml has no options"


def test_the_reference_documents_only_existing_roles():
    reference = load_reference()
    assert not reference.problems, "\n".join(reference.problems)
    assert len(reference.tables) > 0, f"{DOC_NAME}: '{REFERENCE_HEADING}' has no role subsection"
    unknown = sorted(set(reference.tables) - set(ROLES_WITH_SPEC))
    assert not unknown, f"{DOC_NAME} documents roles that do not exist (or have no argument spec): {unknown}"


@pytest.mark.parametrize("role", ROLES_WITH_SPEC)
def test_every_spec_option_is_documented(role):
    table = role_table(role)
    problems = [
        f"{name} (entry point {entry_point}) is not in the table of {NAMESPACE}.{role} in {DOC_NAME}"
        for entry_point, options in sorted(load_spec(role).items())
        for name in options
        if not is_internal(name) and name not in table.rows
    ]
    assert not problems, report(role, "undocumented variables", problems)


@pytest.mark.parametrize("role", ROLES_WITH_SPEC)
def test_every_documented_variable_is_in_the_spec(role):
    table = role_table(role)
    known = {name for options in load_spec(role).values() for name in options}
    problems = [
        f"{name} ({DOC_NAME} line {row.line}) is not an option of roles/{role}/meta/argument_specs.yml"
        for name, row in table.rows.items()
        if name not in known
    ]
    assert not problems, report(role, "documented variables that do not exist", problems)


@pytest.mark.parametrize("role", ROLES_WITH_SPEC)
def test_defaults_and_argument_spec_agree(role):
    options = load_spec(role).get("main")
    assert options, f"{role}: roles/{role}/meta/argument_specs.yml has no 'main' entry point with options"
    defaults = load_defaults(role)
    spec_file, defaults_file = f"roles/{role}/meta/argument_specs.yml", f"roles/{role}/defaults/main.yml"
    problems = [
        f"{name} is set in {defaults_file} but is not an option of the main entry point of {spec_file}"
        for name in defaults
        if not is_internal(name) and name not in options
    ]
    for name, spec in options.items():
        if is_internal(name):
            continue
        required = bool(spec.get("required", False))
        if name not in defaults:
            if not required:
                problems.append(
                    f"{name} is not required in {spec_file} but has no default in {defaults_file} "
                    "(give it a default, or mark it required: true)"
                )
            continue
        value = defaults[name]
        if required:
            problems.append(f"{name} is required in {spec_file} but {defaults_file} gives it a default")
        if "default" in spec and canonical(spec["default"]) != canonical(value):
            problems.append(
                f"{name}: the default in {spec_file} is {shown(spec['default'])}, in {defaults_file} {shown(value)}"
            )
        spec_type = spec.get("type", "str")
        if not has_type(value, spec_type):
            problems.append(f"{name}: {defaults_file} gives {shown(value)}, not of type {spec_type} ({spec_file})")
        choices = spec.get("choices")
        if choices and not is_template(value) and value is not None:
            chosen = value if isinstance(value, list) else [value]
            outside = [item for item in chosen if canonical(item) not in {canonical(c) for c in choices}]
            if outside:
                problems.append(
                    f"{name}: {shown(outside)} in {defaults_file} is not among the choices {shown(choices)}"
                )
    assert not problems, report(role, "defaults/main.yml and argument_specs.yml disagree", problems)


def documented_value(cell):
    """The value a Default cell shows: ``None`` when it is not a single code span, else the code read as YAML
    (a Jinja expression, which YAML cannot read, stays text)."""
    match = CODE_CELL.match(cell)
    if not match:
        return None
    code = match["code"]
    try:
        return (yaml.safe_load(code),)
    except yaml.YAMLError:
        return (code,)


@pytest.mark.parametrize("role", ROLES_WITH_SPEC)
def test_documented_defaults_are_the_defaults(role):
    table = role_table(role)
    spec = load_spec(role)
    main = spec.get("main", {})
    defaults = load_defaults(role)
    problems = []
    for name, row in table.rows.items():
        where = f"{name} ({DOC_NAME} line {row.line})"
        option = main.get(name)
        if option is None:
            if any(name in options for options in spec.values()):  # an option of another entry point only
                required = any(bool(options.get(name, {}).get("required")) for options in spec.values())
                if required and row.default != REQUIRED:
                    problems.append(
                        f"{where}: required, so its Default cell must say {REQUIRED!r}, not {row.default!r}"
                    )
            continue
        if option.get("required"):
            if row.default != REQUIRED:
                problems.append(f"{where}: required, so its Default cell must say {REQUIRED!r}, not {row.default!r}")
            continue
        if name not in defaults:
            if row.default != NO_DEFAULT:
                problems.append(f"{where}: no default in defaults/main.yml, so the cell must say {NO_DEFAULT!r}")
            continue
        value = defaults[name]
        shown_value = documented_value(row.default)
        if shown_value is None:
            if isinstance(value, (list, dict)):
                continue  # a list or mapping may be described in words
            problems.append(
                f"{where}: the Default cell must be the value in backticks, e.g. `{value}`, not {row.default!r}"
            )
        elif canonical(shown_value[0]) != canonical(value):
            problems.append(
                f"{where}: documented default {shown(shown_value[0])}, but defaults/main.yml has {shown(value)}"
            )
    assert not problems, report(role, "documented defaults that are wrong", problems)

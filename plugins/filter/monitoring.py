# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of cronicorn.monitoring: the decisions the runbook roles take on what they read.

Pure functions over registered results; tests/unit/plugins/filter/test_monitoring.py tests them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata


def scram_verifier_matches(verifier, password):
    """Whether ``password`` is the one a PostgreSQL SCRAM-SHA-256 verifier was made from.

    ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` (base64 parts), as pg_authid.rolpassword
    holds it. Anything else (empty, md5, malformed) does not match. The password is normalised with NFKC,
    which is what PostgreSQL's SASLprep does to every password made of printable characters.
    """
    try:
        method, params, keys = str(verifier or "").split("$")
        iterations, salt = params.split(":")
        stored_key, server_key = keys.split(":")
        if method != "SCRAM-SHA-256":
            return False
        salted = hashlib.pbkdf2_hmac(
            "sha256",
            unicodedata.normalize("NFKC", str(password)).encode("utf-8"),
            base64.b64decode(salt),
            int(iterations),
        )
    except (ValueError, TypeError):
        return False
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    ok_stored = hmac.compare_digest(hashlib.sha256(client_key).digest(), base64.b64decode(stored_key))
    ok_server = hmac.compare_digest(
        hmac.new(salted, b"Server Key", hashlib.sha256).digest(), base64.b64decode(server_key)
    )
    return ok_stored and ok_server


def example_secrets(values, fingerprints):
    """Names of ``values`` ({variable: value}) whose SHA-256 (hex, of the UTF-8 text) is in ``fingerprints``.

    Empty and missing values are never a match. Only names are returned, never values.
    """
    known = set(f.lower() for f in fingerprints or [])
    found = []
    for name in sorted(values or {}):
        value = values[name]
        if value is None or value == "":
            continue
        if hashlib.sha256(str(value).encode("utf-8")).hexdigest() in known:
            found.append(name)
    return found


def _labels(obj):
    return obj.get("Labels") or {}


def _is_managed(labels, label):
    return (labels or {}).get(label) == "true"


def _no_label(kind, name, label):
    return "%s %s (no %s label)" % (kind, name, label)


def teardown_containers(results, label):
    """Registered loop results of community.docker.docker_container_info -> {"remove": [names], "left": [why]}.

    A container that does not exist is in neither list.
    """
    remove, left = [], []
    for result in results or []:
        if not result.get("exists"):
            continue
        name = result["item"]
        labels = ((result.get("container") or {}).get("Config") or {}).get("Labels")
        if _is_managed(labels, label):
            remove.append(name)
        else:
            left.append(_no_label("container", name, label))
    return {"remove": remove, "left": left}


def teardown_networks(results, label):
    """Registered loop results of community.docker.docker_network_info -> {"remove": [names], "left": [why]}.

    A network is removed when it carries the label and no container is attached any more.
    """
    remove, left = [], []
    for result in results or []:
        if not result.get("exists"):
            continue
        name, network = result["item"], result.get("network") or {}
        attached = sorted(c.get("Name", "?") for c in (network.get("Containers") or {}).values())
        if not _is_managed(_labels(network), label):
            left.append(_no_label("network", name, label))
        elif attached:
            left.append("network %s (still attached: %s)" % (name, ", ".join(attached)))
        else:
            remove.append(name)
    return {"remove": remove, "left": left}


def teardown_volume(result, name, label):
    """A registered community.docker.docker_volume_info result -> {"remove": [name] or [], "left": [why]}."""
    if not (result or {}).get("exists"):
        return {"remove": [], "left": []}
    if _is_managed(_labels(result.get("volume") or {}), label):
        return {"remove": [name], "left": []}
    return {"remove": [], "left": [_no_label("volume", name, label)]}


def teardown_files(file_results, marker_results, marker):
    """Which files teardown may remove: those in a directory that holds the marker file.

    ``file_results``: registered loop results of ansible.builtin.stat over the files (item = path);
    ``marker_results``: the same over the directories (item = directory, stat of ``<directory>/<marker>``).
    Returns remove (existing files in marked directories), left (existing files elsewhere, with the
    reason), markers (the marker files to remove last) and marked_dirs.
    """
    marked = [r["item"].rstrip("/") for r in marker_results or [] if (r.get("stat") or {}).get("exists")]
    remove, left = [], []
    for result in file_results or []:
        if not (result.get("stat") or {}).get("exists"):
            continue
        path = result["item"]
        if path.rpartition("/")[0] in marked:
            remove.append(path)
        else:
            left.append("file %s (its directory has no %s: not made by this collection)" % (path, marker))
    return {
        "remove": remove,
        "left": left,
        "markers": ["%s/%s" % (d, marker) for d in marked],
        "marked_dirs": marked,
    }


def _index(rows, which):
    try:
        return dict((row["relation"], row) for row in rows or [])
    except (KeyError, TypeError) as exc:
        # A plain ValueError: Ansible reports it as the filter's error. (Importing ansible.errors here would
        # switch module_utils into controller mode for every later import in the same process.)
        raise ValueError("release_changes: every %s row needs a relation (%s)" % (which, exc)) from exc


def release_changes(before, after):
    """What an application release changed for the read-only role.

    ``before`` and ``after`` are rows of roles/app_release/files/relations.sql (relation, kind, columns,
    readable_columns). Returns lists: newly_readable, newly_hidden, columns_changed, new, gone (relation
    names or summaries), readable, hidden (relation names after the release).
    """
    old, new = _index(before, "before"), _index(after, "after")
    out = dict(newly_readable=[], newly_hidden=[], columns_changed=[], new=[], gone=[], readable=[], hidden=[])
    for name in sorted(new):
        row = new[name]
        readable_now = int(row["readable_columns"])
        columns = int(row["columns"])
        readable = readable_now > 0
        summary = "%s (%s, %s)" % (
            name,
            row["kind"],
            "%d of %d columns readable" % (readable_now, columns) if readable else "hidden",
        )
        was = int(old[name]["readable_columns"]) if name in old else 0
        out["readable" if readable else "hidden"].append(name)
        if name not in old:
            out["new"].append(summary)
        if readable and was == 0:
            out["newly_readable"].append(summary)
        elif not readable and was > 0:
            out["newly_hidden"].append(summary)
        elif readable and (was != readable_now or int(old[name]["columns"]) != columns):
            out["columns_changed"].append("%s, was %d of %d" % (summary, was, int(old[name]["columns"])))
    out["gone"] = sorted(name for name in old if name not in new)
    return out


class FilterModule:
    def filters(self):
        return {
            "teardown_containers": teardown_containers,
            "teardown_networks": teardown_networks,
            "teardown_volume": teardown_volume,
            "teardown_files": teardown_files,
            "release_changes": release_changes,
            "example_secrets": example_secrets,
            "scram_verifier_matches": scram_verifier_matches,
        }

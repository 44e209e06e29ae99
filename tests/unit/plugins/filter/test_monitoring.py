"""The filters of cronicorn.monitoring (plugins/filter/monitoring.py): what teardown removes and what it leaves
alone, and what the after-release report says."""

from __future__ import annotations

import pytest
from ansible_collections.cronicorn.monitoring.plugins.filter import monitoring as f

LABEL = "org.cronicorn.monitoring.managed"


def container(name, labels=None, exists=True):
    return {"item": name, "exists": exists, "container": {"Config": {"Labels": labels}} if exists else None}


def test_teardown_containers_removes_only_labelled_ones():
    results = [
        container("cronicorn-metabase", {LABEL: "true"}),
        container("app", {LABEL: "false"}),
        container("other", None),
        container("gone", exists=False),
    ]
    assert f.teardown_containers(results, LABEL) == {
        "remove": ["cronicorn-metabase"],
        "left": [f"container app (no {LABEL} label)", f"container other (no {LABEL} label)"],
    }


def test_teardown_containers_reads_the_label_given():
    assert f.teardown_containers([container("x", {LABEL: "true"})], "other.label") == {
        "remove": [],
        "left": ["container x (no other.label label)"],
    }


def network(name, labels=None, attached=()):
    return {
        "item": name,
        "exists": True,
        "network": {"Labels": labels, "Containers": {str(i): {"Name": n} for i, n in enumerate(attached)}},
    }


def test_teardown_networks():
    results = [
        network("ours", {LABEL: "true"}),
        network("busy", {LABEL: "true"}, attached=["app-b", "app-a"]),
        network("theirs", {}),
        {"item": "missing", "exists": False},
    ]
    assert f.teardown_networks(results, LABEL) == {
        "remove": ["ours"],
        "left": ["network busy (still attached: app-a, app-b)", f"network theirs (no {LABEL} label)"],
    }


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"exists": True, "volume": {"Labels": {LABEL: "true"}}}, {"remove": ["v"], "left": []}),
        ({"exists": True, "volume": {"Labels": None}}, {"remove": [], "left": [f"volume v (no {LABEL} label)"]}),
        ({"exists": False}, {"remove": [], "left": []}),
    ],
)
def test_teardown_volume(result, expected):
    assert f.teardown_volume(result, "v", LABEL) == expected


def stat(path, exists=True):
    return {"item": path, "stat": {"exists": exists}}


def test_teardown_files_only_from_marked_directories():
    files = [stat("/etc/conf/cronicorn-proxy.conf"), stat("/etc/tls/proxy.crt"), stat("/etc/tls/proxy.key", False)]
    markers = [stat("/etc/conf/", True), stat("/etc/tls", False)]
    assert f.teardown_files(files, markers, ".mark") == {
        "remove": ["/etc/conf/cronicorn-proxy.conf"],
        "left": ["file /etc/tls/proxy.crt (its directory has no .mark: not made by this collection)"],
        "markers": ["/etc/conf/.mark"],
        "marked_dirs": ["/etc/conf"],
    }


def test_teardown_files_without_any_marker_removes_nothing():
    files = [stat("/d/a"), stat("/d/b")]
    sorted_ = f.teardown_files(files, [stat("/d", False)], ".mark")
    assert sorted_["remove"] == [] and sorted_["markers"] == [] and len(sorted_["left"]) == 2


def row(relation, columns, readable, kind="table"):
    return {"relation": relation, "kind": kind, "columns": columns, "readable_columns": readable}


def test_release_changes():
    before = [
        row("public.jobs", 5, 5),
        row("public.runs", 8, 6),
        row("public.users", 4, 4),
        row("public.hidden_then_shown", 3, 0),
        row("public.dropped", 2, 2),
        row("public.same", 2, 2),
    ]
    after = [
        row("public.jobs", 6, 6),  # a column added and granted
        row("public.runs", 8, 6),  # unchanged
        row("public.users", 4, 0),  # now hidden
        row("public.hidden_then_shown", 3, 3),
        row("public.new_table", 2, 2),
        row("public.new_secret", 2, 0),
        row("public.same", 2, 2),
        row("mon.view", 3, 3, kind="view"),
    ]
    changes = f.release_changes(before, after)
    assert changes == {
        "newly_readable": [
            "mon.view (view, 3 of 3 columns readable)",
            "public.hidden_then_shown (table, 3 of 3 columns readable)",
            "public.new_table (table, 2 of 2 columns readable)",
        ],
        "newly_hidden": ["public.users (table, hidden)"],
        "columns_changed": ["public.jobs (table, 6 of 6 columns readable), was 5 of 5"],
        "new": [
            "mon.view (view, 3 of 3 columns readable)",
            "public.new_secret (table, hidden)",
            "public.new_table (table, 2 of 2 columns readable)",
        ],
        "gone": ["public.dropped"],
        "readable": [
            "mon.view",
            "public.hidden_then_shown",
            "public.jobs",
            "public.new_table",
            "public.runs",
            "public.same",
        ],
        "hidden": ["public.new_secret", "public.users"],
    }


def test_release_changes_counts_may_be_strings():
    """postgresql_query returns bigint counts as numbers, but a JSON round trip may give strings."""
    changes = f.release_changes([row("a", "2", "0")], [row("a", "2", "2")])
    assert changes["newly_readable"] == ["a (table, 2 of 2 columns readable)"]


def test_release_changes_refuses_rows_without_a_relation():
    with pytest.raises(ValueError, match="every after row needs a relation"):
        f.release_changes([], [{"kind": "table"}])


def test_the_filters_are_registered():
    assert set(f.FilterModule().filters()) == {
        "teardown_containers",
        "teardown_networks",
        "teardown_volume",
        "teardown_files",
        "release_changes",
        "example_secrets",
        "scram_verifier_matches",
    }


# A verifier PostgreSQL 15 stored for ALTER ROLE ... PASSWORD 'pencil' (salt and iterations as generated).
def make_verifier(password: str, salt: bytes = b"0123456789abcdef", iterations: int = 4096) -> str:
    import base64
    import hashlib
    import hmac

    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw):
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client).digest())}:{b64(server)}"


def test_scram_verifier_matches():
    verifier = make_verifier("pencil")
    assert f.scram_verifier_matches(verifier, "pencil") is True
    assert f.scram_verifier_matches(verifier, "pencil2") is False
    for other in (None, "", "md5abc", "SCRAM-SHA-256$x", "SCRAM-SHA-1$4096:YWJj$YQ==:YQ=="):
        assert f.scram_verifier_matches(other, "pencil") is False

"""Roles that act on what another role made name it through options of their own, whose fallback is that
role's default (no role reads a sibling's files through role_path). These fallbacks must stay equal to the
defaults they copy, and the fixed names (the proxy's files and marker) must agree on both sides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
FALLBACK = re.compile(r"^\{\{ (?P<var>[a-z_]+) \| default\('(?P<value>[^']*)'\) \}\}$")


def load(path: str) -> dict:
    return yaml.safe_load((ROLES / path).read_text())


# (role, option) -> (role whose default it follows, that role's variable)
FOLLOWS = {
    ("teardown", "teardown_postgres_container_name"): ("postgres", "postgres_container_name"),
    ("teardown", "teardown_postgres_volume"): ("postgres", "postgres_volume"),
    ("teardown", "teardown_postgres_network"): ("postgres", "postgres_network"),
    ("teardown", "teardown_proxy_container_name"): ("proxy", "proxy_container_name"),
    ("teardown", "teardown_proxy_network"): ("proxy", "proxy_network"),
    ("teardown", "teardown_proxy_config_dir"): ("proxy", "proxy_config_dir"),
    ("teardown", "teardown_proxy_tls_dir"): ("proxy", "proxy_tls_dir"),
    ("teardown", "teardown_backup_dir"): ("metabase_backup", "metabase_backup_dir"),
    ("teardown", "teardown_backup_prefix"): ("metabase_backup", "metabase_backup_prefix"),
    ("metabase_backup", "metabase_backup_postgres_image"): ("postgres", "postgres_image"),
    ("diagnose", "diagnose_postgres_container_name"): ("postgres", "postgres_container_name"),
    ("diagnose", "diagnose_metabase_container_name"): ("metabase", "metabase_container_name"),
    ("diagnose", "diagnose_proxy_container_name"): ("proxy", "proxy_container_name"),
    ("diagnose", "diagnose_proxy_tls_dir"): ("proxy", "proxy_tls_dir"),
    ("diagnose", "diagnose_backup_dir"): ("metabase_backup", "metabase_backup_dir"),
    ("diagnose", "diagnose_backup_prefix"): ("metabase_backup", "metabase_backup_prefix"),
}


@pytest.mark.parametrize(("role", "option"), sorted(FOLLOWS))
def test_fallback_equals_the_other_roles_default(role, option):
    other_role, variable = FOLLOWS[(role, option)]
    text = load(f"{role}/defaults/main.yml")[option]
    match = FALLBACK.match(text)
    assert match, f"{role}: {option} should be \"{{{{ {variable} | default('...') }}}}\", not {text!r}"
    assert match["var"] == variable
    assert match["value"] == load(f"{other_role}/defaults/main.yml")[variable], (
        f"{role}: the fallback of {option} differs from {other_role}'s default {variable}"
    )


def test_no_role_reads_another_roles_files():
    offenders = [
        str(path.relative_to(REPO))
        for path in ROLES.rglob("*.yml")
        if re.search(r"role_path\s*~\s*'/\.\./", path.read_text())
    ]
    assert offenders == []


def test_teardown_and_proxy_agree_on_file_names_and_marker():
    proxy = load("proxy/vars/main.yml")
    teardown = load("teardown/vars/main.yml")
    assert teardown["_teardown_proxy_marker"] == proxy["_proxy_marker_file"]
    assert teardown["_teardown_proxy_config_files"] == [
        "{{ teardown_proxy_config_dir }}/" + proxy["_proxy_config_file"]
    ]
    assert teardown["_teardown_proxy_tls_files"] == [
        "{{ teardown_proxy_tls_dir }}/" + proxy["_proxy_tls_certificate_file"],
        "{{ teardown_proxy_tls_dir }}/" + proxy["_proxy_tls_private_key_file"],
    ]


def test_diagnose_knows_the_views_and_the_certificate_file():
    """The diagnose role checks exactly the views analytics_views makes, and the file the proxy role writes."""
    views = [view["name"] for view in load("analytics_views/vars/main.yml")["_analytics_views_views"]]
    diagnose = load("diagnose/vars/main.yml")
    assert diagnose["_diagnose_views"] == views
    certificate = load("proxy/vars/main.yml")["_proxy_tls_certificate_file"]
    assert diagnose["_diagnose_proxy_certificate"] == "{{ diagnose_proxy_tls_dir }}/" + certificate

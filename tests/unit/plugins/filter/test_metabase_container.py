"""Filters of the metabase role (plugins/filter/metabase_container.py)."""

from __future__ import annotations

import pytest
from ansible_collections.cronicorn.monitoring.plugins.filter import metabase_container as f


@pytest.mark.parametrize(
    ("network", "extra", "expected"),
    [
        ("mon", [], [{"name": "mon"}]),
        ("mon", None, [{"name": "mon"}]),
        ("mon", ["app", "mon", "app", "ops"], [{"name": "mon"}, {"name": "app"}, {"name": "ops"}]),
    ],
)
def test_docker_networks(network, extra, expected):
    assert f.docker_networks(network, extra) == expected


@pytest.mark.parametrize("bad", ["", None, 3])
def test_docker_networks_refuses_bad_names(bad):
    with pytest.raises(ValueError):
        f.docker_networks("mon", [bad])


@pytest.mark.parametrize(
    ("port", "expected_ports", "expected_url"),
    [
        (3030, ["127.0.0.1:3030:3000"], "http://127.0.0.1:3030/api/health"),
        ("3030", ["127.0.0.1:3030:3000"], "http://127.0.0.1:3030/api/health"),
        (None, [], ""),  # metabase_published_port: null publishes nothing: no URL on port None
        ("None", [], ""),  # what Jinja makes of a null inside a string
        ("", [], ""),
    ],
)
def test_published_ports_and_url(port, expected_ports, expected_url):
    assert f.docker_published_ports("127.0.0.1", port, 3000) == expected_ports
    assert f.published_url("127.0.0.1", port) == expected_url


def test_published_url_brackets_ipv6():
    assert f.published_url("::1", 3030) == "http://[::1]:3030/api/health"


def test_container_env():
    env = f.metabase_container_env({"MB_DB_HOST": "pg", "MB_DB_PORT": 5432, "MB_JETTY_PORT": 3000}, site_url="")
    assert env["MB_SEND_EMAIL_ON_FIRST_LOGIN_FROM_NEW_DEVICE"] == "false"
    assert env["MB_DB_TYPE"] == "postgres"
    assert env["MB_DB_PORT"] == "5432"
    assert "MB_SITE_URL" not in env
    assert all(isinstance(value, str) for value in env.values())


def test_container_env_site_url_and_overrides():
    env = f.metabase_container_env(
        {"MB_DB_HOST": "pg"},
        site_url="https://mb.example.com",
        extra={"MB_SEND_EMAIL_ON_FIRST_LOGIN_FROM_NEW_DEVICE": True, "MB_EMAIL_SMTP_PORT": 587},
    )
    assert env["MB_SITE_URL"] == "https://mb.example.com"
    assert env["MB_SEND_EMAIL_ON_FIRST_LOGIN_FROM_NEW_DEVICE"] == "true"  # metabase_env has the last word
    assert env["MB_EMAIL_SMTP_PORT"] == "587"

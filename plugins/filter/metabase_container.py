# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the metabase role: the container's networks, published ports, health URL and
environment, computed in tested Python instead of Jinja loops.

Errors are plain ``ValueError``s (Ansible reports them as filter errors): importing ``ansible.errors``
here would load controller code into the unit tests of the modules.
"""

from __future__ import annotations

#: Settings the collection always gives Metabase (metabase_env can still override them).
FIXED_ENV = {
    "MB_DB_TYPE": "postgres",
    "MB_LOAD_SAMPLE_CONTENT": "false",
    "MB_ANON_TRACKING_ENABLED": "false",
    "MB_CHECK_FOR_UPDATES": "false",
    # The modules log in with a password on every run; each login is a "new device" to Metabase, which
    # would mail the admin every time once email is configured.
    "MB_SEND_EMAIL_ON_FIRST_LOGIN_FROM_NEW_DEVICE": "false",
}


def docker_networks(network, extra=None):
    """``[{"name": network}, {"name": extra[0]}, ...]``, each name once."""
    names = []
    for name in [network, *list(extra or [])]:
        if not isinstance(name, str) or not name:
            raise ValueError("docker_networks: network names must be non-empty strings, got %r" % (name,))
        if name not in names:
            names.append(name)
    return [{"name": name} for name in names]


def _published(port):
    return port is not None and str(port).strip() not in ("", "None", "none", "null")


def docker_published_ports(address, port, container_port):
    """``["address:port:container_port"]``, or ``[]`` when ``port`` is null (publish nothing)."""
    if not _published(port):
        return []
    return ["%s:%s:%s" % (address, int(port), int(container_port))]


def published_url(address, port, path="/api/health", scheme="http"):
    """``http://address:port/path`` where a port is published; ``""`` when it is null, so that the
    role checks health through the container itself instead of a URL on port ``None``."""
    if not _published(port):
        return ""
    host = "[%s]" % address if ":" in str(address) and not str(address).startswith("[") else address
    return "%s://%s:%d%s" % (scheme, host, int(port), path)


def metabase_container_env(settings, site_url="", extra=None):
    """The container's environment: ``settings`` (the role's variable ones), the fixed ones, MB_SITE_URL
    when ``site_url`` is set, then ``extra`` (metabase_env) over all; every value a string, as
    Docker wants."""
    if not isinstance(settings, dict):
        raise ValueError("metabase_container_env: expects a dict of settings")
    env = dict(FIXED_ENV)
    env.update(settings)
    if site_url:
        env["MB_SITE_URL"] = site_url
    env.update(extra or {})
    return dict((str(key), _env_text(value)) for key, value in env.items())


def _env_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FilterModule:
    def filters(self):
        return {
            "docker_networks": docker_networks,
            "docker_published_ports": docker_published_ports,
            "published_url": published_url,
            "metabase_container_env": metabase_container_env,
        }

"""Free TCP ports on 127.0.0.1 for the stacks that integration tests publish, shared by every test module.

Each port handed out is one the kernel had free while *all* ports of the same call were held open, that no
earlier call of this test process handed out, and that no running container publishes (Docker may publish a
port without a listening process, e.g. with its userland proxy off). Four separate bind-and-close calls could
return one port twice; a stack then fails with Docker's "port is already allocated" (seen in CI).
"""

from __future__ import annotations

import contextlib
import socket

import docker

_HANDED_OUT: set[int] = set()


def _published_by_docker() -> set[int]:
    client = docker.from_env()
    try:
        published = set()
        for container in client.containers.list():
            for bindings in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
                published.update(int(binding["HostPort"]) for binding in bindings or () if binding.get("HostPort"))
        return published
    finally:
        client.close()


def free_ports(count: int) -> list[int]:
    """``count`` different free ports, none handed out before in this process nor published by a container."""
    taken = _HANDED_OUT | _published_by_docker()
    chosen: list[int] = []
    with contextlib.ExitStack() as stack:
        while len(chosen) < count:
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if port not in taken and port not in chosen:
                chosen.append(port)
    _HANDED_OUT.update(chosen)
    return chosen


def free_port() -> int:
    """One port, as ``free_ports(1)``."""
    return free_ports(1)[0]

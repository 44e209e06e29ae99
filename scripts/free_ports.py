"""Print shell exports of free TCP ports on 127.0.0.1 for the Molecule scenarios' stacks (molecule/isolation.yml),
so that `make test` never needs the ports of `make deploy` (5432, 3030) or of a production proxy (443, 80):

    eval "$(python scripts/free_ports.py)" && molecule test -s dev
"""

from __future__ import annotations

import contextlib
import socket

NAMES = (
    "CRONICORN_MOLECULE_POSTGRES_PORT",
    "CRONICORN_MOLECULE_METABASE_PORT",
    "CRONICORN_MOLECULE_HTTPS_PORT",
    "CRONICORN_MOLECULE_HTTP_PORT",
)


def free_ports(count: int) -> list[int]:
    """Ports the kernel hands out now, all different (the sockets stay open until all are drawn)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _index in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


if __name__ == "__main__":
    for name, port in zip(NAMES, free_ports(len(NAMES)), strict=True):
        print(f"export {name}={port}")

"""Guard the dev stack of `make deploy` through `make test`: the tests must never touch it.

    python scripts/dev_stack_guard.py start   # before the tests
    python -m pytest tests/guard               # after them: is everything still as it was?
    python scripts/dev_stack_guard.py stop    # removes the sentinel, if start made one

`start` records the dev stack's containers, volume and network (the names of the roles' defaults, which
inventory/dev keeps) with their ids and start times. When there is no dev stack at all, it brings up a sentinel
in its place: containers, volume and network under those same names, the containers publishing the dev ports
(inventory/dev: 5432 and 3030) on 127.0.0.1, and a marker file in the volume. A test that used a dev name or a dev
port would then remove, recreate or fail to bind, and tests/guard sees the difference. The sentinel carries the
label org.cronicorn.test.sentinel, and `stop` (or the next `start`) removes only resources with that label.
"""

from __future__ import annotations

import json
import pathlib
import secrets
import sys

import docker
import docker.errors
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
STATE = ROOT / ".tmp" / "dev-stack-guard.json"
LABEL = "org.cronicorn.test.sentinel"
SENTINEL_IMAGE = "cronicorn-offline/postgres:15"  # built by `make images`; only its shell and sleep are used


def _yaml(path: str) -> dict:
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def dev_stack() -> dict:
    """The names and ports `make deploy` uses: the roles' defaults as inventory/dev overrides them."""
    postgres, metabase = _yaml("roles/postgres/defaults/main.yml"), _yaml("roles/metabase/defaults/main.yml")
    dev = _yaml("inventory/dev/group_vars/all/main.yml")

    def value(name, defaults):
        return dev.get(name, defaults[name])

    return {
        "containers": {
            value("postgres_container_name", postgres): ("5432", value("postgres_published_port", postgres)),
            value("metabase_container_name", metabase): ("3000", value("metabase_published_port", metabase)),
        },
        "volumes": [value("postgres_volume", postgres)],
        "networks": sorted({value("postgres_network", postgres), value("metabase_network", metabase)}),
    }


def _find(client, kind: str, name: str):
    try:
        return getattr(client, kind).get(name)
    except docker.errors.NotFound:
        return None


def remove_sentinel(client) -> list[str]:
    """Remove every resource labelled as the sentinel (and nothing else)."""
    removed = []
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        container.remove(force=True)
        removed.append(f"container {container.name}")
    for volume in client.volumes.list(filters={"label": LABEL}):
        volume.remove(force=True)
        removed.append(f"volume {volume.name}")
    for network in client.networks.list(filters={"label": LABEL}):
        network.remove()
        removed.append(f"network {network.name}")
    return removed


def _bring_up_sentinel(client, stack: dict) -> str:
    token = secrets.token_hex(16)
    labels = {LABEL: "dev-stack"}
    (volume_name,) = stack["volumes"]
    client.volumes.create(volume_name, labels=labels)
    for network in stack["networks"]:
        client.networks.create(network, labels=labels)
    for name, (container_port, host_port) in stack["containers"].items():
        client.containers.run(
            SENTINEL_IMAGE,
            name=name,
            entrypoint=["sh", "-c", f"echo {token} > /data/sentinel && exec sleep infinity"],
            volumes={volume_name: {"bind": "/data", "mode": "rw"}},
            network=stack["networks"][0],
            ports={f"{container_port}/tcp": ("127.0.0.1", int(host_port))},
            labels=labels,
            detach=True,
        )
    return token


def snapshot(client, stack: dict) -> dict:
    found = {}
    for name in stack["containers"]:
        container = _find(client, "containers", name)
        if container is not None:
            found[f"container {name}"] = {"id": container.id, "started": container.attrs["State"]["StartedAt"]}
    for name in stack["volumes"]:
        volume = _find(client, "volumes", name)
        if volume is not None:
            found[f"volume {name}"] = {"id": volume.attrs["CreatedAt"] + " " + volume.name}
    for name in stack["networks"]:
        network = _find(client, "networks", name)
        if network is not None:
            found[f"network {name}"] = {"id": network.id}
    return found


def start() -> int:
    client = docker.from_env()
    leftover = remove_sentinel(client)
    if leftover:
        print(f"dev_stack_guard: removed the sentinel of an earlier run: {', '.join(leftover)}")
    stack = dev_stack()
    state = {"stack": stack, "sentinel": None, "resources": snapshot(client, stack)}
    if state["resources"]:
        print(f"dev_stack_guard: a dev stack is here, it must come through as it is: {sorted(state['resources'])}")
    else:
        state["sentinel"] = _bring_up_sentinel(client, stack)
        state["resources"] = snapshot(client, stack)
        print(f"dev_stack_guard: no dev stack here; a sentinel stands in for it: {sorted(state['resources'])}")
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state, indent=2), encoding="utf-8")
    return 0


def problems() -> list[str]:
    """What changed in the dev stack since `start` (an empty list when nothing did)."""
    if not STATE.exists():
        return [f"{STATE} is missing: `dev_stack_guard.py start` did not run before the tests"]
    state = json.loads(STATE.read_text(encoding="utf-8"))
    client = docker.from_env()
    now = snapshot(client, state["stack"])
    found = []
    for resource, before in state["resources"].items():
        after = now.get(resource)
        if after is None:
            found.append(f"{resource} was removed")
        elif after != before:
            found.append(f"{resource} was replaced or restarted: {before} -> {after}")
    for resource in sorted(set(now) - set(state["resources"])):
        found.append(f"{resource} was created by the tests under a dev name")
    for name in state["stack"]["containers"]:
        container = _find(client, "containers", name)
        if container is not None and container.status != "running" and f"container {name}" in state["resources"]:
            found.append(f"container {name} is {container.status}")
    if state["sentinel"] and not found:
        name = next(iter(state["stack"]["containers"]))
        result = client.containers.get(name).exec_run(["cat", "/data/sentinel"])
        if result.output.decode().strip() != state["sentinel"]:
            found.append(f"the sentinel's marker in volume {state['stack']['volumes'][0]} is gone")
    return found


def stop() -> int:
    removed = remove_sentinel(docker.from_env())
    if removed:
        print(f"dev_stack_guard: removed the sentinel: {', '.join(removed)}")
    STATE.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    commands = {"start": start, "stop": stop}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit("usage: dev_stack_guard.py start|stop")
    sys.exit(commands[sys.argv[1]]())

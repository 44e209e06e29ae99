"""Times site.yml on the dev inventory (`make bench`; not part of `make test`).

Three runs of ``ansible-playbook site.yml -i inventory/dev -e @playbooks/vars/images-offline.yml`` with the
images already built (`make images`), each with ansible.posix.profile_roles and profile_tasks enabled:

1. cold: no dev stack at all (containers, volume and network removed first): every container is created,
   Metabase set up and the database registered; the database is empty, so the views are skipped;
2. after the schema: Cronicorn's schema and seed data loaded (tests/fixtures/cronicorn/seed.py, as
   `make seed` does), then site.yml again: the read-only grants and the ten views are created;
3. re-run: nothing to do; the goal is changed=0 in under 20 s.

Between 2 and 3 (which skips the stage there), the content stage alone (``--tags metabase_content``): a first
run that creates the shipped dashboards, a no-op run, then the same two with a copy of every shipped dashboard
and question beside them (twice the objects). For each: seconds, changed, and the requests the Metabase double
journaled (all, and the writes). Goals: the no-op under 5 s, requests growing with the objects, not faster.

It prints one table (wall-clock seconds, changed count, the five slowest roles) and the goal check, and
exits non-zero when a run fails or the re-run changes something or misses the goal.

The dev stack's names are fixed by inventory/dev: an existing dev stack is only replaced with --replace.
The stack is removed again at the end unless --keep is given.

    python tests/bench/bench_site.py [--replace] [--keep] [--runs 3000] [--json results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import docker.errors
import psycopg2
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.cronicorn.monitoring.plugins.filter.metabase_content import (  # noqa: E402
    metabase_content_dashboards,
    metabase_content_export,
)
from ansible_runs import succeeded  # noqa: E402 - the PLAY RECAP reader of the integration tests

sys.path.insert(0, str(ROOT / "molecule"))
from metabase_api import MetabaseAPI  # noqa: E402 - the verify tests' Metabase client

CONTAINERS = ["cronicorn-metabase", "cronicorn-postgres"]  # roles' defaults; inventory/dev keeps them
VOLUMES = ["cronicorn-postgres-data"]
NETWORKS = ["cronicorn-monitoring"]
RERUN_GOAL_S = 20.0
DEV_DSN = "host=127.0.0.1 port=5432 dbname=db user=user"  # inventory/dev; its password goes in PGPASSWORD
DEV_PASSWORD = "dev-only-postgres-password"
CONTENT_NOOP_GOAL_S = 5.0
METABASE_URL = "http://127.0.0.1:3030"  # inventory/dev
METABASE_DSN = "host=127.0.0.1 port=5432 dbname=metabase user=user"  # the double; password in PGPASSWORD
ROLES_RECAP = re.compile(r"^ROLES RECAP .*?^=+ *$(.*?)^~+", re.MULTILINE | re.DOTALL)
ROLE_LINE = re.compile(r"^([\w.]+) -+ ([0-9.]+)s *$", re.MULTILINE)


def existing(client) -> list[str]:
    found = []
    for name in CONTAINERS:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name)
            found.append(f"container {name}")
    for name in VOLUMES:
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(name)
            found.append(f"volume {name}")
    for name in NETWORKS:
        with contextlib.suppress(docker.errors.NotFound):
            client.networks.get(name)
            found.append(f"network {name}")
    return found


def remove_stack(client) -> None:
    for name in CONTAINERS:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name).remove(force=True, v=False)
    for name in VOLUMES:
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(name).remove(force=True)
    for name in NETWORKS:
        with contextlib.suppress(docker.errors.NotFound):
            client.networks.get(name).remove()


def site(*options: str) -> dict:
    """One timed site.yml run on inventory/dev; its wall time, recap and per-role times."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env |= {
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_roles,ansible.posix.profile_tasks",
    }
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "site.yml",
        "-i",
        "inventory/dev",
        "-e",
        "@playbooks/vars/images-offline.yml",
        *options,
    ]
    started = time.monotonic()
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    try:
        counts = succeeded(run.returncode, run.stdout, ("localhost",))["localhost"]
    except AssertionError:
        sys.stderr.write(run.stdout[-5000:] + run.stderr[-2000:])
        raise SystemExit(f"site.yml failed (exit {run.returncode})") from None
    section = ROLES_RECAP.search(run.stdout)
    if section is None:
        raise SystemExit("no ROLES RECAP in the output (is ansible.posix.profile_roles available?)")
    roles = {role: float(seconds) for role, seconds in ROLE_LINE.findall(section[1])}
    return {"wall_s": wall, "ok": counts["ok"], "changed": counts["changed"], "roles_s": roles}


def journal() -> tuple[int, int]:
    """(requests, writes) the Metabase double has journaled so far; logins and logouts are no writes."""
    connection = psycopg2.connect(METABASE_DSN, password=DEV_PASSWORD)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE method <> 'GET' AND path NOT LIKE '/api/session%')"
                " FROM double_request_journal"
            )
            return cursor.fetchone()
    finally:
        connection.close()


def copied_dashboards(directory: Path) -> int:
    """Write a copy of every shipped dashboard, its questions renamed, into ``directory``; returns the number
    of objects (dashboards and questions) of the copy."""
    role = ROOT / "roles" / "metabase_content"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text(encoding="utf-8"))
    prices = defaults["metabase_content_tier_prices"]
    objects = 0
    for index, dashboard in enumerate(
        metabase_content_dashboards([str(role / "files" / "dashboards")], sql_values_map={"tier_prices": prices})
    ):
        dashboard["name"] += " (copy)"
        for card in dashboard["cards"]:
            card["name"] += " (copy)"
        objects += 1 + len({card["name"] for card in dashboard["cards"]})
        exported = metabase_content_export(dashboard)
        (directory / f"copy-{index}.yml").write_text(yaml.safe_dump(exported, sort_keys=False), encoding="utf-8")
    return objects


def content(*options: str) -> dict:
    """The content stage alone, timed, with the requests the double journaled during it."""
    before = journal()
    result = site("--tags", "metabase_content", *options)
    after = journal()
    result["requests"], result["writes"] = after[0] - before[0], after[1] - before[1]
    return result


def metabase_sees_the_views(timeout: float = 120) -> None:
    """Ask Metabase (the double) to sync the Cronicorn database and wait until its metadata lists the views:
    the schema was loaded after the cold run registered an empty database, and the content stage only reads
    what Metabase knows (in production after_app_release.yml triggers this sync)."""
    group_vars = yaml.safe_load((ROOT / "inventory/dev/group_vars/all/main.yml").read_text(encoding="utf-8"))
    api = MetabaseAPI(METABASE_URL)
    call = api.call
    session = api.login(group_vars["monitoring_metabase_admin_email"], group_vars["monitoring_metabase_admin_password"])
    database = api.database(session)
    call("POST", f"/api/database/{database['id']}/sync_schema", {}, session=session)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metadata = call("GET", f"/api/database/{database['id']}/metadata", session=session)
        if {"admin_user_stats", "admin_daily_metrics"} <= {t["name"] for t in metadata["tables"]}:
            return
        time.sleep(1)
    raise SystemExit("Metabase did not list the views after a sync")


def content_runs() -> dict:
    metabase_sees_the_views()
    role = ROOT / "roles" / "metabase_content" / "files" / "dashboards"
    shipped = sum(
        1 + len(yaml.safe_load(path.read_text(encoding="utf-8"))["cards"]) for path in sorted(role.glob("*.yml"))
    )
    results = {}
    results[f"content first ({shipped} objects)"] = content()
    results[f"content no-op ({shipped} objects)"] = content()
    with tempfile.TemporaryDirectory() as directory:
        copied = copied_dashboards(Path(directory))
        extra = ("-e", f"metabase_content_dir={directory}")
        results[f"content first (+{copied} objects)"] = content(*extra)
        results[f"content no-op ({shipped + copied} objects)"] = content(*extra)
    return results


def seed(runs: int) -> None:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests/fixtures/cronicorn/seed.py"),
            "--load-schema",
            "--runs",
            str(runs),
            "--dsn",
            DEV_DSN,
        ],
        check=True,
        env={**os.environ, "PGPASSWORD": DEV_PASSWORD},
        stdout=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replace", action="store_true", help="remove an existing dev stack first")
    parser.add_argument("--keep", action="store_true", help="leave the dev stack running at the end")
    parser.add_argument("--runs", type=int, default=3000, help="runs in the seed data (other rows scale)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)

    client = docker.from_env()
    found = existing(client)
    if found and not args.replace:
        print(f"A dev stack exists ({', '.join(found)}); its data would be lost. Re-run with --replace.")
        return 2
    remove_stack(client)
    load = os.getloadavg()[0]
    results = {}
    try:
        results["cold"] = site()
        seed(args.runs)
        results["after schema"] = site("--skip-tags", "metabase_content")
        content_results = content_runs()
        results.update(content_results)
        results["re-run"] = site()
    finally:
        if not args.keep:
            remove_stack(client)

    print(f"\nsite.yml on inventory/dev, offline images, {os.cpu_count()} CPUs, load average {load:.2f} before")
    print("| run | wall clock | changed | slowest roles (profile_roles) |")
    print("| --- | ---: | ---: | --- |")
    for name, result in results.items():
        slowest = sorted(result["roles_s"].items(), key=lambda item: -item[1])[:5]
        roles = ", ".join(f"{role} {seconds:.1f} s" for role, seconds in slowest)
        print(f"| {name} | {result['wall_s']:.1f} s | {result['changed']} | {roles} |")
    rerun = results["re-run"]
    ok = rerun["changed"] == 0 and rerun["wall_s"] < RERUN_GOAL_S
    verdict = "met" if ok else "NOT met"
    print(f"\nGoal (re-run under {RERUN_GOAL_S:.0f} s with changed=0): {verdict}")

    print("\nThe content stage alone (site.yml --tags metabase_content), requests journaled by the Metabase double")
    print("| run | wall clock | metabase_content role | changed | requests | writes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, result in content_results.items():
        role_s = result["roles_s"].get("metabase_content", 0.0)
        print(
            f"| {name} | {result['wall_s']:.1f} s | {role_s:.1f} s | {result['changed']} | {result['requests']} "
            f"| {result['writes']} |"
        )
    noops = [result for name, result in content_results.items() if "no-op" in name]
    content_ok = all(r["changed"] == 0 and r["writes"] == 0 and r["wall_s"] < CONTENT_NOOP_GOAL_S for r in noops)
    verdict = "met" if content_ok else "NOT met"
    print(f"\nGoal (content no-op under {CONTENT_NOOP_GOAL_S:.0f} s, changed=0, no write): {verdict}")
    ok = ok and content_ok
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

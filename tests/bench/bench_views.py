"""Scale benchmark of the ten analytics views (`make bench`; not part of `make test`).

For each scale (default 100,000 and 1,000,000 runs, with proportional users, jobs, endpoints and AI
sessions: tests/fixtures/cronicorn/seed.py) it creates a fresh database, loads the schema and the data,
deploys the views with the analytics_views role (ansible-playbook), then times ``SELECT * FROM <view>``
(all rows fetched): one warm-up, then the median of --repeat runs. It prints one table with both scales
and the growth factor, and the goal check (every view under 250 ms at 1M runs, growth no worse than
linear, i.e. factor <= 10 from 100k to 1M).

Server: MONITORING_TEST_PG_URL (postgresql://user:password@127.0.0.1:port) when set, otherwise a
throwaway container of cronicorn-offline/postgres:15 (`make images`) with its default settings,
published on 127.0.0.1 and removed at the end.

    python tests/bench/bench_views.py [--scales 100000,1000000] [--repeat 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS / "fixtures" / "cronicorn"))
sys.path.insert(0, str(TESTS / "integration"))

import harness  # noqa: E402
from psycopg2 import sql  # noqa: E402

GOAL_MS = 250.0


def start_server():
    """(server, cleanup) from MONITORING_TEST_PG_URL or a throwaway container (conftest's helpers)."""
    import conftest  # tests/integration/conftest.py: PgServer, DockerResources, wait_for_login

    url = os.environ.get("MONITORING_TEST_PG_URL")
    if url:
        server = conftest._server_from_url(url)
        conftest.wait_for_login(server.dsn(), what="The server of MONITORING_TEST_PG_URL")
        return server, lambda: None
    import docker

    resources = conftest.DockerResources(docker.from_env())
    password = secrets.token_urlsafe(24)
    container = resources.start_postgres({"POSTGRES_PASSWORD": password})
    server = resources.pg_server(container, "postgres", password)
    conftest.wait_for_login(server.dsn(), container, what=f"PostgreSQL container {container.name}")
    return server, resources.cleanup


def time_views(db, repeat: int) -> dict[str, dict]:
    results = {}
    conn = db.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for view in harness.VIEWS:
                query = sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(db.schema), sql.Identifier(view))
                cur.execute(query)  # warm-up
                rows = len(cur.fetchall())
                timings = []
                for _attempt in range(repeat):
                    started = time.perf_counter()
                    cur.execute(query)
                    cur.fetchall()
                    timings.append((time.perf_counter() - started) * 1000)
                results[view] = {"median_ms": statistics.median(timings), "timings_ms": timings, "rows": rows}
    finally:
        conn.close()
    return results


def server_facts(db) -> str:
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT current_setting('server_version'), current_setting('max_parallel_workers_per_gather'),"
                " current_setting('jit'), current_setting('work_mem'), current_setting('shared_buffers')"
            )
            version, workers, jit, work_mem, shared_buffers = cur.fetchone()
    finally:
        conn.close()
    return (
        f"PostgreSQL {version}, {os.cpu_count()} CPUs, max_parallel_workers_per_gather={workers}, jit={jit}, "
        f"work_mem={work_mem}, shared_buffers={shared_buffers}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="100000,1000000", help="comma-separated numbers of runs")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per view (median), after one warm-up")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    scales = [int(s) for s in args.scales.split(",")]

    server, cleanup = start_server()
    measured: dict[int, dict] = {}
    facts = ""
    try:
        for scale in scales:
            started = time.monotonic()
            db = harness.create_app_database(server, runs=scale, seed_value=args.seed)
            try:
                loaded = time.monotonic() - started
                run = db.run_role()
                if run.returncode != 0:
                    print(run, file=sys.stderr)
                    return 1
                facts = facts or server_facts(db)
                counts = ", ".join(
                    f"{t}={n}"
                    for t, n in db.summary.counts.items()
                    if t in ("user", "jobs", "job_endpoints", "runs", "ai_analysis_sessions")
                )
                print(f"{scale:>9,} runs: loaded in {loaded:.1f} s ({counts}); timing views...", flush=True)
                measured[scale] = time_views(db, args.repeat)
            finally:
                db.drop()
    finally:
        cleanup()

    print(f"\n{facts}\nSELECT * FROM <view>, all rows fetched; median of {args.repeat} after a warm-up (ms)\n")
    header = "| view | " + " | ".join(f"{s:,} runs" for s in scales) + " | growth | rows at largest |"
    print(header)
    print("|" + "---|" * (len(scales) + 3))
    small, large = scales[0], scales[-1]
    factor = large / small
    slow, steep = [], []
    for view in harness.VIEWS:
        cells = [f"{measured[s][view]['median_ms']:.1f}" for s in scales]
        at_large = measured[large][view]["median_ms"]
        growth = at_large / max(measured[small][view]["median_ms"], 0.01)
        print(f"| {view} | " + " | ".join(cells) + f" | x{growth:.1f} | {measured[large][view]['rows']} |")
        if at_large >= GOAL_MS:
            slow.append(f"{view} ({at_large:.0f} ms)")
        if growth > factor:
            steep.append(f"{view} (x{growth:.1f})")
    print()
    count = len(harness.VIEWS)
    print(
        f"under {GOAL_MS:.0f} ms at {large:,} runs: {count - len(slow)}/{count} views"
        + (f"; not: {', '.join(slow)}" if slow else "")
    )
    print(
        f"growth at most x{factor:.0f} for x{factor:.0f} data: {count - len(steep)}/{count} views"
        + (f"; more: {', '.join(steep)}" if steep else "")
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"server": facts, "repeat": args.repeat, "results": {str(k): v for k, v in measured.items()}}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

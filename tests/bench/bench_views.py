"""Scale benchmark of the ten analytics views (`make bench`; not part of `make test`, never a timed test).

For each data generator (tests/fixtures/cronicorn/seed.py and the independent seed_heavy.py), each
collation (C.UTF-8 and en_US.UTF-8, the official postgres image's default) and each size (default 1M and
10M runs, other tables proportional), it deploys the views with the analytics_views role and times
``SELECT * FROM <view>`` (every row fetched): one warm-up, then the median of --repeat runs. Beside each
view it times the application's original view (Cronicorn's migration 0018, loaded into a schema of its
own in the same database; abandoned after --original-timeout seconds), and the floor of the machine: one
parallel sequential scan of every run (``SELECT count(*), sum(duration_ms) FROM runs``, index scans off).
It prints, per generator and collation, the table with the growth 1M -> 10M and the goals.

The databases are generated once and kept, with the bench's own server: container ``views-bench-pg``,
volume ``views-bench-pgdata`` (cronicorn-offline/postgres:15 with its default settings, published on a
free port of 127.0.0.1; not the dev stack's). A cached database is reused while its generator's source,
size, seed and collation are the same and its data is younger than --max-age-hours (the views count
relative to now(): older data would leave the recent windows empty); otherwise it is generated again.
10M runs take about 4.5 GB per database.

    python tests/bench/bench_views.py [--generators seed,heavy] [--locales C.UTF-8,en_US.UTF-8]
        [--sizes 1000000,10000000] [--repeat 3] [--prepare | --report] [--json results.json]

``--prepare`` only generates what is missing (run it without the docker lock); a measuring run then takes
minutes per generator and collation (run those under ``flock /work/docker.lock``, one at a time).
``--report`` prints the table of the results saved by earlier runs (.tmp/bench/views-*.json).

The original views: the file named by CRONICORN_ORIGINAL_VIEWS, else
../shared/cronicorn/0018_admin_analytics_views.sql next to the repository (the application's migration
0018, from the Cronicorn repository's history); without it the bench measures the views alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures" / "cronicorn"
sys.path.insert(0, str(FIXTURES))
sys.path.insert(0, str(TESTS / "integration"))

import harness  # noqa: E402
import psycopg2  # noqa: E402
from psycopg2 import sql  # noqa: E402

CONTAINER = "views-bench-pg"
VOLUME = "views-bench-pgdata"
RESULTS = REPO / ".tmp" / "bench"
ORIGINALS_SCHEMA = "app_original_views"
GENERATOR_SOURCES = {"seed": FIXTURES / "seed.py", "heavy": FIXTURES / "seed_heavy.py"}
GOAL_1M_MS = 250.0
GOAL_10M_MS = 2500.0
GOAL_GROWTH = 10.0
FLOOR_QUERY = "SELECT count(*), sum(duration_ms) FROM public.runs"


def _slug(locale: str) -> str:
    return locale.split(".", maxsplit=1)[0].replace("_", "").lower()  # C.UTF-8 -> c, en_US.UTF-8 -> enus


def _source_sha(generator: str) -> str:
    digest = hashlib.sha256()
    for path in (GENERATOR_SOURCES[generator], FIXTURES / "schema.sql"):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# -- the bench's own server ----------------------------------------------------------------------------
def bench_server():
    """The bench's PostgreSQL container (created on first use, started when stopped) as a PgServer."""
    import conftest  # tests/integration/conftest.py: PgServer, wait_for_login, POSTGRES_IMAGE
    import docker
    import docker.errors

    client = docker.from_env()
    try:
        container = client.containers.get(CONTAINER)
    except docker.errors.NotFound:
        container = client.containers.run(
            conftest.POSTGRES_IMAGE,
            name=CONTAINER,
            detach=True,
            environment={"POSTGRES_PASSWORD": secrets.token_urlsafe(24)},
            volumes={VOLUME: {"bind": "/var/lib/postgresql/data", "mode": "rw"}},
            ports={"5432/tcp": ("127.0.0.1", None)},
            shm_size="1g",  # parallel workers' shared memory (docker's default /dev/shm is 64 MB)
        )
    if container.status != "running":
        container.start()
    for _attempt in range(50):
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get("5432/tcp")
        if bindings:
            break
        time.sleep(0.2)
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    server = conftest.PgServer("127.0.0.1", int(bindings[0]["HostPort"]), "postgres", env["POSTGRES_PASSWORD"])
    conftest.wait_for_login(server.dsn(), container, what=f"PostgreSQL container {CONTAINER}")
    return server


# -- cached databases ----------------------------------------------------------------------------------
def _meta(server, name: str) -> dict | None:
    try:
        conn = psycopg2.connect(server.dsn(dbname=name), connect_timeout=10)
    except psycopg2.OperationalError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('views_bench.meta') IS NOT NULL")
            if not cur.fetchone()[0]:
                return None
            cur.execute("SELECT value FROM views_bench.meta")
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def _drop(server, name: str, meta: dict | None) -> None:
    conn = psycopg2.connect(server.dsn(), connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            if meta:
                suffix = meta["suffix"]
                for role in (f"mb_ro_{suffix}", f"cm_owner_{suffix}", meta["app_owner"]):
                    cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    finally:
        conn.close()


def cached_database(server, generator: str, locale: str, runs: int, *, seed: int, max_age_hours: float):
    """The AppDatabase of this generator, collation and size: reused when still valid, else generated."""
    name = f"bench_{generator}_{_slug(locale)}_{runs}"
    want = {"generator": generator, "locale": locale, "runs": runs, "seed": seed, "source": _source_sha(generator)}
    meta = _meta(server, name)
    if meta is not None:
        age = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.datetime.fromisoformat(meta["anchor"])
        if all(meta.get(k) == v for k, v in want.items()) and age <= dt.timedelta(hours=max_age_hours):
            db = harness.AppDatabase(server, name, meta["suffix"], meta["app_owner"], meta["app_password"])
            db.summary = None
            db.meta = meta
            return db
        print(f"{name}: cached data is stale or from another generator version: generating again", flush=True)
    _drop(server, name, meta)
    started = time.monotonic()
    print(f"{name}: generating {runs:,} runs ({generator}, {locale})...", flush=True)
    db = harness.create_app_database(server, runs=runs, seed_value=seed, generator=generator, locale=locale, name=name)
    meta = {
        **want,
        "suffix": db.suffix,
        "app_owner": db.app_owner,
        "app_password": db.app_password,
        "anchor": db.summary.anchor.isoformat(),
        "counts": db.summary.counts,
        "generated_in_s": round(time.monotonic() - started, 1),
    }
    conn = psycopg2.connect(server.dsn(dbname=name), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE SCHEMA views_bench")
            cur.execute("CREATE TABLE views_bench.meta (value jsonb NOT NULL)")
            cur.execute("INSERT INTO views_bench.meta VALUES (%s)", (json.dumps(meta),))
        conn.commit()
    finally:
        conn.close()
    print(f"{name}: generated in {meta['generated_in_s']} s", flush=True)
    db.meta = meta
    return db


# -- measuring -----------------------------------------------------------------------------------------
def _timed(cur, query: str, repeat: int, slow_s: float = 3.0) -> tuple[float, int, list[float]]:
    """(median ms, rows, timings) of a query: a warm-up, then repeat runs (none when the warm-up was slow)."""
    started = time.perf_counter()
    cur.execute(query)
    rows = len(cur.fetchall())
    warm_s = time.perf_counter() - started
    if warm_s > slow_s:  # a slow query is its own warm-up: its one run is the timing
        return warm_s * 1000, rows, [warm_s * 1000]
    timings = []
    for _attempt in range(repeat):
        started = time.perf_counter()
        cur.execute(query)
        cur.fetchall()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), rows, timings


def original_views_file() -> Path | None:
    named = os.environ.get("CRONICORN_ORIGINAL_VIEWS")
    candidates = [Path(named)] if named else [REPO.parent / "shared" / "cronicorn" / "0018_admin_analytics_views.sql"]
    return next((p for p in candidates if p.is_file()), None)


def measure(db, repeat: int, originals: Path | None, original_timeout_s: float, skip: frozenset = frozenset()) -> dict:
    """Deploy the views, then time the floor, the views and the originals (those in ``skip``, which did not
    finish within the timeout on a smaller data set, are not run again: they are recorded as timed out)."""
    run = db.run_role()
    if run.returncode != 0:
        raise RuntimeError(str(run))
    result: dict = {"views": {}, "originals": {}, "server": "", "measured_at": dt.datetime.now(dt.UTC).isoformat()}
    conn = db.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT current_setting('server_version'), current_setting('max_parallel_workers_per_gather'),"
                " current_setting('jit'), current_setting('work_mem'), current_setting('shared_buffers'),"
                " (SELECT datcollate FROM pg_database WHERE datname = current_database()),"
                " pg_size_pretty(pg_total_relation_size('public.runs'))"
            )
            version, workers, jit, work_mem, shared_buffers, collate, size = cur.fetchone()
            result["server"] = (
                f"PostgreSQL {version}, {os.cpu_count()} CPUs, max_parallel_workers_per_gather={workers}, jit={jit},"
                f" work_mem={work_mem}, shared_buffers={shared_buffers}"
            )
            result["collation"] = collate
            result["runs_size"] = size
            # the floor: one parallel sequential scan of every run
            cur.execute("SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off")
            result["floor_ms"], _rows, result["floor_timings_ms"] = _timed(cur, FLOOR_QUERY, repeat)
            cur.execute("RESET enable_indexscan; RESET enable_indexonlyscan; RESET enable_bitmapscan")
            for view in harness.VIEWS:
                query = f'SELECT * FROM "{db.schema}"."{view}"'  # noqa: S608 (constant names)
                median, rows, timings = _timed(cur, query, repeat)
                result["views"][view] = {"median_ms": median, "timings_ms": timings, "rows": rows}
            if originals is not None:
                cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(ORIGINALS_SCHEMA)))
                cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(ORIGINALS_SCHEMA)))
                cur.execute(sql.SQL("SET search_path = {}, public").format(sql.Identifier(ORIGINALS_SCHEMA)))
                cur.execute(originals.read_text(encoding="utf-8"))
                cur.execute("RESET search_path")
                cur.execute("SET statement_timeout = %s", (int(original_timeout_s * 1000),))
                for view in harness.VIEWS:
                    query = f'SELECT * FROM "{ORIGINALS_SCHEMA}"."{view}"'  # noqa: S608 (constant names)
                    if view in skip:
                        result["originals"][view] = {"median_ms": None, "timed_out_s": original_timeout_s, "skipped": 1}
                        continue
                    try:
                        median, rows, timings = _timed(cur, query, repeat)
                        result["originals"][view] = {"median_ms": median, "timings_ms": timings, "rows": rows}
                    except psycopg2.errors.QueryCanceled:
                        result["originals"][view] = {"median_ms": None, "timed_out_s": original_timeout_s}
                cur.execute("RESET statement_timeout")
    finally:
        conn.close()
    return result


# -- the report ----------------------------------------------------------------------------------------
def _fmt(ms: float | None, timeout: float | None = None) -> str:
    if ms is None:
        return f"> {timeout:.0f} s" if timeout else "-"
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:.1f} ms"


def report(generators, locales, sizes) -> list[str]:
    """The tables of the saved results; returns the goals not met."""
    missed: list[str] = []
    small, large = sizes[0], sizes[-1]
    for generator in generators:
        for locale in locales:
            saved = {}
            for runs in sizes:
                path = RESULTS / f"views-{generator}-{_slug(locale)}-{runs}.json"
                if path.is_file():
                    saved[runs] = json.loads(path.read_text())
            if not saved:
                continue
            any_result = next(iter(saved.values()))
            print(f"\n### {generator} generator, {locale}\n")
            print(any_result["server"])
            for runs, res in saved.items():
                print(f"- {runs:,} runs: runs table {res['runs_size']}, measured {res['measured_at'][:16]} UTC")
            print()
            cols = [f"{s:,} runs" for s in sizes] + ["growth"] + [f"original {s:,}" for s in sizes]
            print("| view | " + " | ".join(cols) + " |")
            print("|---|" + "---:|" * len(cols))
            floor = [saved.get(s, {}).get("floor_ms") for s in sizes]
            growth = floor[-1] / floor[0] if None not in (floor[0], floor[-1]) and len(sizes) > 1 else None
            print(
                "| floor: one parallel scan of all runs | "
                + " | ".join(_fmt(f) for f in floor)
                + f" | {f'x{growth:.1f}' if growth else '-'} | "
                + " | ".join("" for _size in sizes)
                + " |"
            )
            for view in harness.VIEWS:
                ours = [saved.get(s, {}).get("views", {}).get(view, {}).get("median_ms") for s in sizes]
                orig = [saved.get(s, {}).get("originals", {}).get(view) for s in sizes]
                g = ours[-1] / ours[0] if None not in (ours[0], ours[-1]) and len(sizes) > 1 else None
                cells = [_fmt(m) for m in ours] + [f"x{g:.1f}" if g else "-"]
                cells += [
                    (_fmt(o.get("median_ms"), o.get("timed_out_s")) + (" (smaller size)" if o.get("skipped") else ""))
                    if o
                    else "-"
                    for o in orig
                ]
                print(f"| {view} | " + " | ".join(cells) + " |")
                where = f"{view} ({generator}, {locale})"
                for s, m in zip(sizes, ours, strict=True):
                    goal = GOAL_1M_MS if s <= 1_000_000 else GOAL_10M_MS
                    if m is not None and s in (1_000_000, 10_000_000) and m >= goal:
                        missed.append(f"{where}: {m:.0f} ms at {s:,} runs (goal < {goal:.0f} ms)")
                if g and large == 10 * small and g > GOAL_GROWTH:
                    missed.append(f"{where}: growth x{g:.1f} (goal <= x{GOAL_GROWTH:.0f})")
                for s, m, o in zip(sizes, ours, orig, strict=True):
                    if m is not None and o and o.get("median_ms") is not None and m > o["median_ms"]:
                        missed.append(
                            f"{where}: {m:.0f} ms, slower than the original ({o['median_ms']:.0f} ms) at {s:,}"
                        )
    print()
    print("Goals: every view under 250 ms at 1M and 2.5 s at 10M runs, growth 1M -> 10M at most x10, never slower")
    print("than the application's original view on the same data.")
    print("Not met:\n- " + "\n- ".join(missed) if missed else "All met.")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", default="seed,heavy", help="comma-separated: seed, heavy")
    parser.add_argument("--locales", default="C.UTF-8,en_US.UTF-8", help="comma-separated collations")
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated numbers of runs")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per view (median), after one warm-up")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-age-hours", type=float, default=12.0, help="regenerate cached data older than this")
    parser.add_argument("--original-timeout", type=float, default=30.0, help="seconds before an original is abandoned")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--prepare", action="store_true", help="only generate the missing databases")
    mode.add_argument("--report", action="store_true", help="only print the saved results")
    parser.add_argument("--json", type=Path, help="also write this run's results to this file")
    args = parser.parse_args(argv)
    generators = args.generators.split(",")
    locales = args.locales.split(",")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.report:
        report(generators, locales, sizes)
        return 0
    originals = original_views_file()
    if originals is None and not args.prepare:
        print("No original views (CRONICORN_ORIGINAL_VIEWS): measuring the views alone.", flush=True)
    server = bench_server()
    RESULTS.mkdir(parents=True, exist_ok=True)
    everything = {}
    for generator in generators:
        for locale in locales:
            for runs in sizes:
                db = cached_database(server, generator, locale, runs, seed=args.seed, max_age_hours=args.max_age_hours)
                if args.prepare:
                    continue
                print(f"{db.name}: measuring...", flush=True)
                skip = frozenset(
                    view
                    for smaller in sizes
                    if smaller < runs and (RESULTS / f"views-{generator}-{_slug(locale)}-{smaller}.json").is_file()
                    for view, o in json.loads(
                        (RESULTS / f"views-{generator}-{_slug(locale)}-{smaller}.json").read_text()
                    )["originals"].items()
                    if o.get("median_ms") is None
                )
                result = measure(db, args.repeat, originals, args.original_timeout, skip)
                result["data"] = {k: v for k, v in db.meta.items() if k not in ("app_password",)}
                (RESULTS / f"views-{generator}-{_slug(locale)}-{runs}.json").write_text(json.dumps(result, indent=2))
                everything[db.name] = result
    if args.prepare:
        return 0
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2))
    report(generators, locales, sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())

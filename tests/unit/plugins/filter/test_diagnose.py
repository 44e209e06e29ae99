"""The diagnose filters: for each fault, what the checks register -> the part the report names as broken and
the command it gives; consequences of a broken part are not reported as causes; a healthy stack is all green."""

from __future__ import annotations

import pytest
from ansible_collections.cronicorn.monitoring.plugins.filter import diagnose as d

VIEWS = ["admin_user_stats", "admin_top_jobs"]
ROLE = "metabase_readonly"
INVENTORY = ["/repo/inventory/dev", "/srv/extra.yml"]


def container(component, name, running=True, health="healthy", exists=True):
    state = {"Running": running, "Status": "running" if running else "exited", "ExitCode": 0 if running else 137}
    if health:
        state["Health"] = {"Status": health}
    return {"item": {"component": component, "name": name}, "exists": exists, "container": {"State": state}}


def port(component, ok=True):
    result = {"item": {"component": component, "address": "127.0.0.1", "port": 3030}, "failed": False}
    if not ok:
        result["msg"] = "Timeout when waiting for 127.0.0.1:3030"
    return result


def metabase(reachable=True, healthcheck=None, registered=True, errors=()):
    result = {"reachable": reachable, "version": "v0.58.5", "setup_done": True, "errors": list(errors)}
    result["database"] = {"name": "Cronicorn", "registered": registered, "id": 2, "healthcheck": healthcheck}
    if healthcheck is None and registered:
        result["database"]["healthcheck"] = {"status": "ok"}
    if not reachable:
        result.update(database=None, version=None)
    return result


def query(rows):
    return {"query_result": rows, "failed": False}


def query_failed(msg):
    return {"msg": msg, "failed": False, "failed_when_result": False}


def answers(failing=(), times=None):
    out = []
    for name in VIEWS:
        if name in failing:
            out.append({"item": {"name": name}, **query_failed(f'relation "{name}" does not exist')})
        else:
            out.append(
                {
                    "item": {"name": name},
                    "query_result": [{"count": 1}],
                    "execution_time_ms": [(times or {}).get(name, 5)],
                }
            )
    return out


def database(admin=None, readonly=None, views=None, writes=None, view_answers=None, **kwargs):
    admin = admin or query([{"role_exists": True, "can_login": True, "attributes": []}])
    readonly = readonly or query([{"current_user": ROLE}])
    views = views or query([{"name": name, "present": True, "readable": True} for name in VIEWS])
    writes = writes or {"query_result": {}, "failed": False}
    checks = {"admin": admin, "readonly": readonly, "views": views, "writes": writes}
    return d.diagnose_database(dict(checks, answers=view_answers or answers()), ROLE, **kwargs)


def healthy_findings(**replace):
    parts = {
        "containers": d.diagnose_containers(
            [container("postgres", "pg"), container("metabase", "mb"), container("proxy", "px", health=None)]
        ),
        "ports": d.diagnose_ports([port("metabase"), port("proxy")]),
        "metabase": d.diagnose_metabase(metabase(), "mb"),
        "database": database(),
        "standby": d.diagnose_standby({}, configured=False),
        "certificate": d.diagnose_certificate(
            {"expired": False, "valid_at": {"soon": True}, "not_after": "20290101000000Z"}, "/tls/proxy.crt"
        ),
        "disk": d.diagnose_backup_disk([{"mount": "/", "size_available": 50 * 2**30}], "/var/backups/x"),
    }
    parts.update(replace)
    return [item for group in parts.values() for item in group]


ALL_GROUPS = ["monitoring_postgres", "monitoring_metabase", "monitoring_proxy", "monitoring_database"]
ALL_CHECKS = ["containers", "metabase", "proxy", "database"]


def report(**replace):
    entry = {
        "host": "localhost",
        "groups": ALL_GROUPS,
        "completed": ALL_CHECKS,
        "findings": healthy_findings(**replace),
    }
    return d.diagnose_report([entry], INVENTORY, "/repo")


def test_healthy_stack_is_all_green():
    out = report()
    assert out["healthy"] is True and out["broken"] == [] and out["consequences"] == []
    assert out["lines"][0] == "Diagnosis: all healthy"
    text = "\n".join(out["lines"])
    assert "replication (localhost): not configured" in text
    assert "healthy, version v0.58.5" in text
    assert "slowest: admin_user_stats 5 ms" in text
    assert "'" not in text  # printed as YAML, quotes would come out doubled


def causes(out):
    return [(item["part"], item["fix"]) for item in out["broken"]]


def test_metabase_stopped_names_the_container_and_only_it():
    out = report(
        containers=d.diagnose_containers([container("postgres", "pg"), container("metabase", "mb", running=False)]),
        ports=d.diagnose_ports([port("metabase", ok=False)]),
        metabase=d.diagnose_metabase(metabase(reachable=False, errors=["GET /api/health failed: refused"]), "mb"),
    )
    assert out["healthy"] is False
    assert causes(out) == [
        ("metabase container", "ansible-playbook playbooks/start.yml -i inventory/dev -i /srv/extra.yml")
    ]
    assert {item["part"] for item in out["consequences"]} == {"metabase port", "metabase"}
    assert out["lines"][0] == "Diagnosis: broken: metabase container"


def test_readonly_password_changed_behind_metabases_back():
    failing = query_failed('connection failed: FATAL:  password authentication failed for user "metabase_readonly"')
    out = report(
        metabase=d.diagnose_metabase(
            metabase(healthcheck={"status": "error", "message": "Looks like your Password is incorrect."}), "mb"
        ),
        database=database(readonly=failing),
    )
    assert causes(out) == [
        ("read-only role", "ansible-playbook playbooks/rotate_readonly_password.yml -i inventory/dev -i /srv/extra.yml")
    ]
    assert "PostgreSQL refuses the password of the inventory" in out["broken"][0]["detail"]
    assert {item["part"] for item in out["consequences"]} == {"metabase connection"}


def test_only_metabase_has_a_wrong_password():
    out = report(
        metabase=d.diagnose_metabase(
            metabase(healthcheck={"status": "error", "message": "Looks like your Password is incorrect."}), "mb"
        )
    )
    assert [cause[0] for cause in causes(out)] == ["metabase connection"]
    assert "rotate_readonly_password.yml" in causes(out)[0][1]


def test_a_view_dropped():
    views = query(
        [{"name": "admin_user_stats", "present": True, "readable": True}, {"name": "admin_top_jobs", "present": False}]
    )
    out = report(
        database=database(
            views=views, view_answers=[*answers()[:1], {"skipped": True, "item": {"name": "admin_top_jobs"}}]
        )
    )
    assert causes(out) == [
        (
            "analytics views",
            "ansible-playbook playbooks/database.yml -i inventory/dev -i /srv/extra.yml --tags analytics_views",
        )
    ]
    assert out["broken"][0]["detail"] == "missing: admin_top_jobs"


def test_a_view_that_does_not_answer():
    out = report(database=database(view_answers=answers(failing=["admin_top_jobs"])))
    assert [cause[0] for cause in causes(out)] == ["analytics views"]
    assert "do not answer: admin_top_jobs" in out["broken"][0]["detail"]


def test_view_not_readable_by_the_role():
    views = query([{"name": name, "present": True, "readable": name != "admin_top_jobs"} for name in VIEWS])
    out = report(database=database(views=views))
    assert [item["detail"] for item in out["broken"]] == ["metabase_readonly may not read: admin_top_jobs"]


@pytest.mark.parametrize(
    ("row", "writes", "expected"),
    [
        ({"role_exists": False}, [], "role metabase_readonly does not exist"),
        ({"role_exists": True, "can_login": True, "attributes": ["SUPERUSER"]}, [], "has SUPERUSER"),
        ({"role_exists": True, "can_login": False, "attributes": []}, [], "cannot log in (NOLOGIN)"),
        (
            {"role_exists": True, "can_login": True, "attributes": []},
            [{"relation": "public.users", "privilege": "INSERT"}],
            "may write: INSERT on public.users",
        ),
    ],
)
def test_read_only_role_rights(row, writes, expected):
    out = report(database=database(admin=query([row]), writes=query(writes)))
    assert [part for part, fix in causes(out)] == ["read-only role"]
    assert expected in out["broken"][0]["detail"]
    assert out["broken"][0]["fix"].endswith(
        "playbooks/database.yml -i inventory/dev -i /srv/extra.yml --tags readonly_user"
    )


def test_database_down():
    out = report(database=database(admin=query_failed("unable to connect to database: connection refused")))
    assert [cause[0] for cause in causes(out)] == ["cronicorn database"]


def test_slow_view_is_a_warning_not_a_failure():
    out = report(database=database(view_answers=answers(times={"admin_top_jobs": 20000}), slow_ms=10000))
    assert out["healthy"] is True
    assert [item["part"] for item in out["warnings"]] == ["analytics views"]
    assert "slower than 10000 ms: admin_top_jobs" in out["warnings"][0]["detail"]


@pytest.mark.parametrize(
    ("info", "detail"),
    [
        ({"expired": False, "valid_at": {"soon": False}, "not_after": "20261204000000Z"}, "expires within 30 days"),
        ({"expired": True, "valid_at": {"soon": False}, "not_after": "20200101000000Z"}, "expired"),
        ({"failed": True, "msg": "No such file"}, "cannot read"),
    ],
)
def test_certificate(info, detail):
    out = report(certificate=d.diagnose_certificate(info, "/tls/proxy.crt", 30))
    assert causes(out) == [
        ("proxy certificate", "ansible-playbook site.yml -i inventory/dev -i /srv/extra.yml --tags proxy")
    ]
    assert detail in out["broken"][0]["detail"]


def test_given_certificate_fix_says_renew():
    found = d.diagnose_certificate({"expired": True, "not_after": "x"}, "/tls/proxy.crt", given=True)
    assert found[0]["fix"].startswith("renew the certificate")


def test_container_missing_and_unhealthy():
    found = d.diagnose_containers(
        [container("proxy", "px", exists=False), container("postgres", "pg", health="unhealthy")]
    )
    assert [(f["part"], f["status"], f["fix"]) for f in found] == [
        ("proxy container", "broken", "ansible-playbook site.yml {inventory} --tags proxy"),
        ("postgres container", "broken", "docker logs --tail 100 pg; docker restart pg"),
    ]
    with pytest.raises(ValueError, match="component"):
        d.diagnose_containers([{"item": {"component": "x", "name": "y"}}])


def test_metabase_unregistered_connection():
    out = report(metabase=d.diagnose_metabase(metabase(registered=False), "mb"))
    assert causes(out) == [
        (
            "metabase connection",
            "ansible-playbook site.yml -i inventory/dev -i /srv/extra.yml --tags metabase_registration",
        )
    ]


@pytest.mark.parametrize(
    ("result", "configured", "status", "detail"),
    [
        ({}, False, "info", "not configured"),
        (query_failed("connection refused"), True, "broken", "cannot query the standby"),
        (query([{"in_recovery": False, "streaming": False}]), True, "broken", "not in recovery"),
        (query([{"in_recovery": True, "streaming": False}]), True, "broken", "does not stream"),
        (query([{"in_recovery": True, "streaming": True, "lag_seconds": 300}]), True, "warn", "lag 300 s"),
        (query([{"in_recovery": True, "streaming": True, "lag_seconds": 0.5}]), True, "ok", "lag 0.5 s"),
    ],
)
def test_standby(result, configured, status, detail):
    (found,) = d.diagnose_standby(result, configured, 60)
    assert (found["part"], found["status"]) == ("replication", status)
    assert detail in found["detail"]


def test_backup_disk_picks_the_longest_mount_and_needs_twice_the_newest_dump():
    mounts = [{"mount": "/", "size_available": 100 * 2**30}, {"mount": "/var/backups", "size_available": 3 * 2**30}]
    (fine,) = d.diagnose_backup_disk(mounts, "/var/backups/cronicorn", 1024, 1 * 2**30)
    assert fine["status"] == "ok" and "on /var/backups" in fine["detail"]
    (full,) = d.diagnose_backup_disk(mounts, "/var/backups/cronicorn", 1024, 2 * 2**30)
    assert full["status"] == "broken" and "need 4096 MB" in full["detail"]
    (other,) = d.diagnose_backup_disk(mounts, "/var/backupsX", 1024)
    assert "on / " in other["detail"]


def test_host_whose_checks_did_not_finish():
    hosts = [
        {"host": "db-access", "groups": ["monitoring_database"], "completed": None, "findings": None},
        {"host": "docker", "groups": ALL_GROUPS[:3], "completed": ["containers", "metabase"], "findings": []},
        {"host": "fine", "groups": ["monitoring_proxy"], "completed": ["containers", "proxy"], "findings": []},
    ]
    out = d.diagnose_report(hosts, INVENTORY, "/repo")
    assert [(item["part"], item["detail"]) for item in out["broken"]] == [
        (
            "host db-access",
            "the database checks did not finish on db-access (unreachable, or a task failed: see above)",
        ),
        ("host docker", "the proxy checks did not finish on docker (unreachable, or a task failed: see above)"),
    ]


def test_expected_containers_by_group():
    names = {"postgres": "pg", "metabase": "mb", "proxy": "px"}
    assert d.diagnose_expected_containers(["monitoring_metabase", "monitoring_proxy", "other"], names) == [
        {"component": "metabase", "name": "mb"},
        {"component": "proxy", "name": "px"},
    ]
    assert d.diagnose_expected_containers(["monitoring_database"], names) == []


def test_published_ports_of_running_containers_only():
    running = container("metabase", "mb")
    running["container"]["HostConfig"] = {"PortBindings": {"3000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "3030"}]}}
    proxy = container("proxy", "px")
    proxy["container"]["HostConfig"] = {
        "PortBindings": {
            "443/tcp": [{"HostIp": "", "HostPort": "8443"}],
            "80/tcp": [{"HostIp": "::1", "HostPort": "80"}],
        }
    }
    stopped = container("postgres", "pg", running=False)
    stopped["container"]["HostConfig"] = {"PortBindings": {"5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5432"}]}}
    unpublished = container("postgres", "pg2")
    unpublished["container"]["HostConfig"] = {"PortBindings": {}}
    assert d.diagnose_published_ports([running, proxy, stopped, unpublished, {"exists": False}]) == [
        {"component": "metabase", "address": "127.0.0.1", "port": 3030},
        {"component": "proxy", "address": "127.0.0.1", "port": 8443},
        {"component": "proxy", "address": "::1", "port": 80},
    ]


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="status"):
        d.finding("x", "y", "fine", "z")


def test_host_entries_from_hostvars():
    hostvars = {
        "docker": {
            "group_names": ["monitoring_metabase"],
            "diagnose_findings": [1],
            "diagnose_completed": ["metabase"],
        },
        "db": {"group_names": ["monitoring_database"]},
    }
    assert d.diagnose_host_entries(["docker", "db", "gone"], hostvars) == [
        {"host": "docker", "groups": ["monitoring_metabase"], "findings": [1], "completed": ["metabase"]},
        {"host": "db", "groups": ["monitoring_database"], "findings": None, "completed": []},
        {"host": "gone", "groups": [], "findings": None, "completed": []},
    ]

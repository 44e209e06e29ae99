# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the diagnose runbook (playbooks/diagnose.yml): what the read-only checks registered becomes
findings, and the findings of every host become one report: which part is broken and the command that fixes
it. All the judgement lives here, in tested Python; the playbook only gathers.

A finding is a dict: ``part`` (what an operator calls it: "metabase container", "read-only role", ...),
``check``, ``status`` (``ok``, ``broken``, ``warn``, ``info``), ``detail``, ``fix`` (a command, with
``{inventory}`` standing for the run's ``-i`` options), ``key`` (what it proves, e.g.
``container:metabase``) and ``after`` (keys it depends on: when one of those is broken, this finding is a
consequence, not a cause). Later parts of the stack (a standby, several Metabase instances) add findings
with filters of their own; the report needs nothing new for them.

Errors are plain ``ValueError``s (Ansible reports them as filter errors).
"""

from __future__ import annotations

import os

OK = "ok"
BROKEN = "broken"
WARN = "warn"
INFO = "info"
WILDCARD_ADDRESSES = ("0.0.0.0", "::")  # noqa: S104 - read from Docker's bindings, never bound here

#: The tag of site.yml that (re)creates each container.
CONTAINER_TAGS = {"postgres": "postgres", "metabase": "metabase", "proxy": "proxy"}
SITE = "ansible-playbook site.yml {inventory}"
DATABASE = "ansible-playbook playbooks/database.yml {inventory}"
ROTATE = "ansible-playbook playbooks/rotate_readonly_password.yml {inventory}"


#: Report texts hold no quotes: Ansible prints the report as YAML, which doubles them.


def finding(part, check, status, detail, fix="", key="", after=()):  # noqa: PLR0917 - a record, read positionally
    if status not in (OK, BROKEN, WARN, INFO):
        raise ValueError("diagnose: unknown status %r" % (status,))
    return dict(part=part, check=check, status=status, detail=detail, fix=fix, key=key, after=list(after))


def _failed(result):
    return (
        not isinstance(result, dict) or bool(result.get("failed")) or ("msg" in result and "query_result" not in result)
    )


def _message(result):
    text = result.get("msg", "") if isinstance(result, dict) else str(result)
    return " ".join(str(text).split())[:300] or "no answer"


# -- containers and ports ------------------------------------------------------------------------


def diagnose_expected_containers(group_names, names):
    """``[{component, name}]``: the containers a host of these groups runs (``monitoring_<component>``),
    ``names`` mapping each component to its container's name."""
    groups = set(group_names or [])
    return [
        dict(component=component, name=names[component])
        for component in CONTAINER_TAGS
        if "monitoring_%s" % component in groups and names.get(component)
    ]


def diagnose_published_ports(results):
    """``[{component, address, port}]``: the host ports the running containers of a
    ``docker_container_info`` loop publish (as deployed), to see whether something answers there."""
    ports = []
    for result in results:
        container = result.get("container") if isinstance(result, dict) and result.get("exists") else None
        if not container or not (container.get("State") or {}).get("Running"):
            continue
        bindings = (container.get("HostConfig") or {}).get("PortBindings") or {}
        for container_port in sorted(bindings):
            for binding in bindings[container_port] or []:
                address = binding.get("HostIp") or "127.0.0.1"
                if address in WILDCARD_ADDRESSES:  # published on every address: try loopback
                    address = "127.0.0.1"
                if binding.get("HostPort"):
                    component = result["item"]["component"]
                    ports.append(dict(component=component, address=address, port=int(binding["HostPort"])))
    return ports


def diagnose_containers(results):
    """``docker_container_info`` results of a loop over ``{component, name}`` items: one finding each."""
    findings = []
    for result in results:
        item = result.get("item") or {}
        component, name = item.get("component"), item.get("name")
        if component not in CONTAINER_TAGS:
            raise ValueError("diagnose_containers: item.component must be one of %s" % sorted(CONTAINER_TAGS))
        part, key = "%s container" % component, "container:%s" % component
        if _failed(result):
            findings.append(finding(part, "state", BROKEN, "cannot ask Docker: %s" % _message(result), "", key))
        elif not result.get("exists"):
            fix = "%s --tags %s" % (SITE, CONTAINER_TAGS[component])
            findings.append(finding(part, "state", BROKEN, "%s does not exist" % name, fix, key))
        else:
            findings.append(_container_state(part, key, component, name, result.get("container") or {}))
    return findings


def _container_state(part, key, component, name, container):
    state = container.get("State") or {}
    if not state.get("Running"):
        detail = "%s is %s (exit code %s)" % (name, state.get("Status", "stopped"), state.get("ExitCode"))
        fix = (
            "ansible-playbook playbooks/start.yml {inventory}" if component == "metabase" else "docker start %s" % name
        )
        return finding(part, "state", BROKEN, detail, fix, key)
    health = (state.get("Health") or {}).get("Status")
    if health == "unhealthy":
        detail = "%s runs but its healthcheck fails" % name
        return finding(
            part, "health", BROKEN, detail, "docker logs --tail 100 %s; docker restart %s" % (name, name), key
        )
    if health == "starting":
        return finding(part, "health", WARN, "%s is still starting" % name, "", key)
    return finding(part, "state", OK, "%s running%s" % (name, ", healthy" if health == "healthy" else ""), "", key)


def diagnose_ports(results):
    """``wait_for`` results of a loop over ``{component, address, port}``: does something answer there."""
    findings = []
    for result in results:
        item = result.get("item") or {}
        component = item.get("component")
        where = "%s:%s" % (item.get("address"), item.get("port"))
        part, after = "%s port" % component, ["container:%s" % component]
        if _failed(result):
            fix = "%s --tags %s" % (SITE, CONTAINER_TAGS.get(component, component))
            findings.append(finding(part, "listening", BROKEN, "nothing answers on %s" % where, fix, after=after))
        else:
            findings.append(finding(part, "listening", OK, "%s answers" % where, after=after))
    return findings


# -- Metabase --------------------------------------------------------------------------------------


def diagnose_metabase(result, container_name="", database_name="Cronicorn"):
    """``metabase_health_info`` with ``database``: health, version, setup, and the registered connection."""
    after = ["container:metabase"]
    errors = list(result.get("errors") or [])
    if _failed(result):
        return [finding("metabase", "health", BROKEN, _message(result), "", "metabase:health", after)]
    if not result.get("reachable"):
        detail = "Metabase does not answer healthy: %s" % (errors[0] if errors else result.get("health"))
        fix = "docker logs --tail 100 %s" % container_name if container_name else ""
        return [finding("metabase", "health", BROKEN, detail, fix, "metabase:health", after)]
    findings = [finding("metabase", "health", OK, "healthy, version %s" % (result.get("version") or "unknown"))]
    after = ["metabase:health"]
    registration = "%s --tags metabase_registration" % SITE
    if result.get("setup_done") is False:
        findings.append(finding("metabase", "setup", BROKEN, "first-run setup not done", registration, after=after))
        return findings
    database = result.get("database")
    part = "metabase connection"
    if database is None:
        detail = "cannot read the connections of Metabase: %s" % ("; ".join(errors) or "no answer")
        fix = "check monitoring_metabase_admin_email / monitoring_metabase_admin_password"
        findings.append(finding(part, "registered", BROKEN, detail, fix, "metabase:connection", after))
    elif not database.get("registered"):
        detail = "no connection named %s in Metabase" % database_name
        findings.append(finding(part, "registered", BROKEN, detail, registration, "metabase:connection", after))
    else:
        check = database.get("healthcheck") or {}
        if check.get("status") == "ok":
            detail = "Metabase connects to %s (database id %s)" % (database_name, database.get("id"))
            findings.append(finding(part, "healthcheck", OK, detail, "", "metabase:connection", after))
        else:
            detail = "Metabase cannot connect to %s: %s" % (database_name, check.get("message") or "; ".join(errors))
            after = [*after, "readonly:login", "database:login"]
            findings.append(finding(part, "healthcheck", BROKEN, detail, ROTATE, "metabase:connection", after))
    return findings


# -- the Cronicorn database ------------------------------------------------------------------------


def _rows(result):
    rows = result.get("query_result") if isinstance(result, dict) else None
    return rows if isinstance(rows, list) else []


def diagnose_database(checks, role="metabase_readonly", slow_ms=10000, slowest=3):
    """The database side, from ``checks``: ``admin`` (``postgresql_query`` of the role's attributes as the
    login user), ``readonly`` (a login as the read-only role), ``views`` (per expected view: present, and
    readable by the role), ``writes`` (relations the role may write) and ``answers`` (a loop of
    ``SELECT count(*)`` per view as the read-only role; its ``execution_time_ms`` are the timings)."""
    admin = checks.get("admin")
    if _failed(admin):
        detail = "cannot log in as the login user: %s" % _message(admin)
        fix = "check that the Cronicorn database runs and monitoring_db_host, monitoring_db_port, monitoring_db_login_*"
        return [finding("cronicorn database", "login", BROKEN, detail, fix, "database:login")]
    findings = [finding("cronicorn database", "login", OK, "the login user logs in", key="database:login")]
    findings.extend(_role_findings(_rows(admin), _rows(checks.get("writes")), role))
    findings.extend(_login_finding(checks.get("readonly"), role))
    findings.extend(_view_findings(_rows(checks.get("views")), checks.get("answers") or [], role, slow_ms, slowest))
    return findings


def _role_findings(rows, writes, role):
    part, fix = "read-only role", "%s --tags readonly_user" % DATABASE
    after = ["database:login"]
    row = rows[0] if rows else {}
    if not row.get("role_exists"):
        return [finding(part, "exists", BROKEN, "role %s does not exist" % role, fix, "readonly:role", after)]
    problems = []
    if not row.get("can_login"):
        problems.append("cannot log in (NOLOGIN)")
    if row.get("attributes"):
        problems.append("has %s" % ", ".join(row["attributes"]))
    if writes:
        listed = ", ".join("%s on %s" % (w.get("privilege"), w.get("relation")) for w in writes[:5])
        problems.append("may write: %s%s" % (listed, " ..." if len(writes) > 5 else ""))
    if problems:
        return [finding(part, "rights", BROKEN, "%s %s" % (role, "; ".join(problems)), fix, "readonly:role", after)]
    return [finding(part, "rights", OK, "%s can log in, read only" % role, "", "readonly:role", after)]


def _login_finding(readonly, role):
    part, after = "read-only role", ["readonly:role"]
    if not _failed(readonly):
        return [
            finding(part, "password", OK, "%s logs in with the password of the inventory" % role, "", "readonly:login")
        ]
    message = _message(readonly)
    if "password authentication failed" in message:
        detail = "PostgreSQL refuses the password of the inventory for %s (changed behind its back?)" % role
        return [finding(part, "password", BROKEN, detail, ROTATE, "readonly:login", after)]
    if "no pg_hba.conf entry" in message:
        detail = "pg_hba.conf does not let %s in from here: %s" % (role, message)
        fix = "add a pg_hba.conf line for %s on the database server (docs/readonly.md)" % role
        return [finding(part, "password", BROKEN, detail, fix, "readonly:login", after)]
    return [
        finding(part, "password", BROKEN, "%s cannot log in: %s" % (role, message), ROTATE, "readonly:login", after)
    ]


def _view_findings(rows, answers, role, slow_ms, slowest):
    part, fix = "analytics views", "%s --tags analytics_views" % DATABASE
    findings = []
    missing = [row["name"] for row in rows if not row.get("present")]
    if missing:
        detail = "missing: %s" % ", ".join(missing)
        findings.append(finding(part, "present", BROKEN, detail, fix, "views:present", ["database:login"]))
    elif rows:
        detail = "all %d present" % len(rows)
        findings.append(finding(part, "present", OK, detail, key="views:present", after=["database:login"]))
    unreadable = [row["name"] for row in rows if row.get("present") and not row.get("readable")]
    if unreadable:
        detail = "%s may not read: %s" % (role, ", ".join(unreadable))
        findings.append(finding(part, "readable", BROKEN, detail, fix, "views:readable", ["readonly:role"]))
    timings, failing = [], []
    for result in answers:
        if result.get("skipped"):
            continue
        name = (result.get("item") or {}).get("name") or result.get("item")
        if _failed(result):
            failing.append("%s (%s)" % (name, _message(result)))
        else:
            times = result.get("execution_time_ms") or [0]
            timings.append((float(times[-1]), name))
    if failing:
        detail = "do not answer: %s" % "; ".join(failing)
        findings.append(finding(part, "answering", BROKEN, detail, fix, "views:answering", ["readonly:login"]))
    elif timings:
        findings.append(
            finding(part, "answering", OK, "%d answer as %s" % (len(timings), role), after=["readonly:login"])
        )
    if timings:
        timings.sort(reverse=True)
        top = ", ".join("%s %.0f ms" % (name, ms) for ms, name in timings[: max(1, int(slowest))])
        slow = [name for ms, name in timings if ms > float(slow_ms)]
        if slow:
            detail = "slower than %s ms: %s (slowest: %s)" % (slow_ms, ", ".join(slow), top)
            fix = "EXPLAIN (ANALYZE, BUFFERS) the query of the view; see docs/views.md"
            findings.append(finding(part, "timings", WARN, detail, fix, after=["readonly:login"]))
        else:
            findings.append(finding(part, "timings", INFO, "slowest: %s" % top, after=["readonly:login"]))
    return findings


# -- replication, certificate, disk ----------------------------------------------------------------


def diagnose_standby(result, configured=False, max_lag_seconds=60):
    """The standby's replication, from a query on it; ``configured`` false means no standby."""
    part, key = "replication", "standby:replication"
    if not configured:
        return [finding(part, "lag", INFO, "not configured (no monitoring_standby_host)")]
    fix = "check the standby server: it must run and stream from the primary (docs/production.md)"
    if _failed(result):
        return [finding(part, "standby", BROKEN, "cannot query the standby: %s" % _message(result), fix, key)]
    row = (_rows(result) or [{}])[0]
    if not row.get("in_recovery"):
        return [finding(part, "standby", BROKEN, "the standby is not in recovery (promoted?)", fix, key)]
    if not row.get("streaming"):
        return [finding(part, "streaming", BROKEN, "the standby does not stream from the primary", fix, key)]
    lag = float(row.get("lag_seconds") or 0)
    if lag > float(max_lag_seconds):
        detail = "lag %.0f s, above %s s" % (lag, max_lag_seconds)
        return [
            finding(part, "lag", WARN, detail, "see the conflict settings of the standby in docs/production.md", key)
        ]
    return [finding(part, "lag", OK, "lag %.1f s" % lag, "", key)]


def diagnose_certificate(result, path, min_days=30, given=False):
    """``x509_certificate_info`` of the proxy's certificate, with ``valid_at: {soon: +<min_days>d}``."""
    part = "proxy certificate"
    fix = "%s --tags proxy" % SITE
    if given:
        fix = "renew the certificate, put it in proxy_tls_certificate / proxy_tls_private_key, then " + fix
    if _failed(result):
        return [finding(part, "readable", BROKEN, "cannot read %s: %s" % (path, _message(result)), fix)]
    not_after = result.get("not_after", "?")
    if result.get("expired"):
        return [finding(part, "expiry", BROKEN, "%s expired (%s)" % (path, not_after), fix)]
    if not (result.get("valid_at") or {}).get("soon", True):
        detail = "%s expires within %s days (%s)" % (path, min_days, not_after)
        return [finding(part, "expiry", BROKEN, detail, fix)]
    return [finding(part, "expiry", OK, "valid until %s" % not_after)]


def _mount_of(mounts, path):
    best = None
    for mount in mounts or []:
        point = mount.get("mount", "")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > len(best.get("mount", ""))):
            best = mount
    return best


def diagnose_backup_disk(mounts, backup_dir, min_free_mb=1024, newest_dump_bytes=0):
    """Free space where the dumps go (the longest mount point above ``backup_dir``): at least
    ``min_free_mb``, and twice the newest dump."""
    part = "backup disk"
    mount = _mount_of(mounts, os.path.normpath(backup_dir))
    if mount is None:
        return [finding(part, "free", WARN, "no mount point found for %s" % backup_dir, "df -h %s" % backup_dir)]
    free_mb = int(mount.get("size_available") or 0) // (1024 * 1024)
    need_mb = max(int(min_free_mb), 2 * int(newest_dump_bytes or 0) // (1024 * 1024))
    detail = "%d MB free on %s for %s" % (free_mb, mount.get("mount"), backup_dir)
    if free_mb < need_mb:
        fix = "free space on %s (old dumps in %s, or a lower metabase_backup_keep); df -h %s" % (
            mount.get("mount"),
            backup_dir,
            backup_dir,
        )
        return [finding(part, "free", BROKEN, "%s, need %d MB" % (detail, need_mb), fix)]
    return [finding(part, "free", OK, detail)]


# -- the report ------------------------------------------------------------------------------------


def _inventory_options(sources, root):
    options = []
    for source in sources or []:
        text = str(source)
        if root and os.path.isabs(text) and text.startswith(root.rstrip("/") + "/"):
            text = os.path.relpath(text, root)
        options.append("-i %s" % text)
    return " ".join(options)


#: The check files of the role (tasks_from) and the groups whose hosts run them.
CHECKS = {
    "containers": ("monitoring_postgres", "monitoring_metabase", "monitoring_proxy"),
    "metabase": ("monitoring_metabase",),
    "proxy": ("monitoring_proxy",),
    "database": ("monitoring_database",),
}


def expected_checks(groups):
    """The check files a host of ``groups`` runs."""
    groups = set(groups or [])
    return [name for name, wanted in CHECKS.items() if groups.intersection(wanted)]


def _report_lines(causes, consequences, warnings, fine):
    lines = []
    for item in causes:
        lines.append("BROKEN  %s (%s): %s" % (item["part"], item["host"], item["detail"]))
        if item["fix"]:
            lines.append("        fix: %s" % item["fix"])
    for item in consequences:
        because = ", ".join(item["because"])
        lines.append("  then  %s (%s): %s [follows from %s]" % (item["part"], item["host"], item["detail"], because))
    for item in warnings:
        lines.append("WARN    %s (%s): %s" % (item["part"], item["host"], item["detail"]))
        if item["fix"]:
            lines.append("        hint: %s" % item["fix"])
    for item in fine:
        lines.append("%-7s %s (%s): %s" % (item["status"].upper(), item["part"], item["host"], item["detail"]))
    return lines


def diagnose_host_entries(hosts, hostvars):
    """``[{host, groups, findings, completed}]`` of ``hosts``, from ``hostvars`` (what the checks noted)."""
    entries = []
    for host in hosts:
        known = hostvars[host] if host in hostvars else {}
        entries.append(
            dict(
                host=host,
                groups=list(known.get("group_names") or []),
                findings=known.get("diagnose_findings"),
                completed=list(known.get("diagnose_completed") or []),
            )
        )
    return entries


def diagnose_report(hosts, inventory_sources=(), root=""):
    """One report from ``hosts``: a list of ``{host, groups, findings, completed}`` (``completed``: the
    check files that finished on the host; each one its groups call for, see :data:`CHECKS`, must be there).
    Returns ``healthy``, ``broken`` (the causes), ``consequences``, ``warnings`` and ``lines`` (the text)."""
    inventory = _inventory_options(inventory_sources, root)
    findings = []
    for entry in hosts:
        host = entry.get("host")
        missing = [name for name in expected_checks(entry.get("groups")) if name not in (entry.get("completed") or [])]
        if missing:
            detail = "the %s checks did not finish on %s (unreachable, or a task failed: see above)" % (
                ", ".join(missing),
                host,
            )
            findings.append(dict(finding("host %s" % host, "checks", BROKEN, detail, "run again with -vvv"), host=host))
        for item in entry.get("findings") or []:
            findings.append(dict(item, host=host))
    broken_keys = set(item["key"] for item in findings if item["status"] == BROKEN and item["key"])
    causes, consequences, warnings, fine = [], [], [], []
    for found in findings:
        item = dict(found, fix=found["fix"].replace("{inventory}", inventory).replace("  ", " ").strip())
        blocked = [key for key in item["after"] if key in broken_keys]
        if item["status"] in (BROKEN, WARN) and blocked:
            consequences.append(dict(item, because=blocked))
        elif item["status"] == BROKEN:
            causes.append(item)
        elif item["status"] == WARN:
            warnings.append(item)
        else:
            fine.append(item)
    lines = _report_lines(causes, consequences, warnings, fine)
    healthy = not causes
    summary = "all healthy" if healthy else "broken: %s" % ", ".join(sorted(set(item["part"] for item in causes)))
    lines.insert(0, "Diagnosis: %s" % summary)
    return dict(
        healthy=healthy,
        summary=summary,
        broken=causes,
        consequences=consequences,
        warnings=warnings,
        lines=lines,
    )


class FilterModule:
    def filters(self):
        return {
            "diagnose_expected_containers": diagnose_expected_containers,
            "diagnose_published_ports": diagnose_published_ports,
            "diagnose_containers": diagnose_containers,
            "diagnose_ports": diagnose_ports,
            "diagnose_metabase": diagnose_metabase,
            "diagnose_database": diagnose_database,
            "diagnose_standby": diagnose_standby,
            "diagnose_certificate": diagnose_certificate,
            "diagnose_backup_disk": diagnose_backup_disk,
            "diagnose_host_entries": diagnose_host_entries,
            "diagnose_report": diagnose_report,
        }

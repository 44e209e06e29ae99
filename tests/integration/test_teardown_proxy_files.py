"""Teardown removes the proxy's configuration, certificate and key only where the proxy role left its marker.

The teardown role's proxy entry point runs on directories that hold files with the proxy's names: without
the marker (files someone else made, e.g. a host's own nginx certificate) nothing is removed and the report
says why; with the marker (what the proxy role makes) the files, the markers and the empty directories go.
No proxy container exists under the unique name used here, so the container step finds nothing.
"""

from __future__ import annotations

from pathlib import Path

from ansible_runs import run_playbook
from conftest import resource_name

PLAYBOOK = """
- name: Teardown of the proxy's files
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Remove the proxy container and the proxy's files
      ansible.builtin.import_role:
        name: cronicorn.monitoring.teardown
        tasks_from: proxy.yml

    - name: Show what was left alone
      ansible.builtin.debug:
        var: teardown_left
"""
MARKER = ".cronicorn-monitoring-managed"
NAMES = {"conf": ["cronicorn-proxy.conf"], "tls": ["proxy.crt", "proxy.key"]}


def make_dirs(root: Path, marked: bool) -> dict[str, Path]:
    dirs = {}
    for key, files in NAMES.items():
        d = root / key
        d.mkdir()
        for name in files:
            (d / name).write_text(f"{name} of someone else\n")
        if marked:
            (d / MARKER).write_text("made by cronicorn.monitoring.proxy\n")
        dirs[key] = d
    return dirs


def teardown(workdir: Path, dirs: dict[str, Path], *options: str):
    extra = {
        "confirm_data_loss": "yes",
        "proxy_container_name": resource_name("absent-proxy"),
        "proxy_config_dir": str(dirs["conf"]),
        "proxy_tls_dir": str(dirs["tls"]),
    }
    return run_playbook(workdir, "teardown.yml", PLAYBOOK, extra, *options, timeout=120)


def test_files_without_the_marker_stay(tmp_path, docker_client):
    dirs = make_dirs(tmp_path, marked=False)
    run = teardown(tmp_path, dirs)
    assert run.rc == 0, run.output[-3000:]
    assert run.changed == 0, run.changed_tasks()
    for key, files in NAMES.items():
        for name in files:
            assert (dirs[key] / name).read_text() == f"{name} of someone else\n"
    text = " ".join(run.output.split())
    assert f"file {dirs['tls']}/proxy.key (its directory has no {MARKER}: not made by this collection)" in text


def test_files_with_the_marker_go_with_their_directories(tmp_path, docker_client):
    dirs = make_dirs(tmp_path, marked=True)
    check = teardown(tmp_path, dirs, "--check")
    assert check.rc == 0 and check.changed > 0, check.output[-3000:]
    assert all((dirs[key] / name).exists() for key, files in NAMES.items() for name in files)

    run = teardown(tmp_path, dirs)
    assert run.rc == 0, run.output[-3000:]
    assert not dirs["conf"].exists() and not dirs["tls"].exists()

    again = teardown(tmp_path, dirs)
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()


def test_a_marked_directory_with_other_files_is_kept(tmp_path, docker_client):
    dirs = make_dirs(tmp_path, marked=True)
    (dirs["conf"] / "other.conf").write_text("server {}\n")
    run = teardown(tmp_path, dirs)
    assert run.rc == 0, run.output[-3000:]
    assert sorted(p.name for p in dirs["conf"].iterdir()) == ["other.conf"]
    assert not dirs["tls"].exists()

"""The collection tarball carries the collection, and none of the development tooling."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import tarfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GALAXY = pathlib.Path(sys.executable).with_name("ansible-galaxy")

FORBIDDEN_PREFIXES = (
    ".venv/",
    ".cache/",
    ".tmp/",
    ".git/",
    "images/",
    "collections/",
    "molecule/",
    "build/",
    "tests/integration/",
    "tests/fixtures/",
    "tests/bench/",
    "playbooks/offline_images.yml",
)


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("build")
    subprocess.run(
        [str(GALAXY), "collection", "build", "--output-path", str(out), str(ROOT)], check=True, capture_output=True
    )
    (tarball,) = out.glob("cronicorn-monitoring-*.tar.gz")
    with tarfile.open(tarball) as archive:
        return archive.getnames()


def test_tarball_holds_the_collection(members):
    for required in (
        "MANIFEST.json",
        "FILES.json",
        "meta/runtime.yml",
        "README.md",
        "roles/postgres/tasks/main.yml",
        "roles/metabase/tasks/main.yml",
        "site.yml",
    ):
        assert required in members


@pytest.mark.parametrize("prefix", FORBIDDEN_PREFIXES)
def test_tarball_holds_no_tooling_images_or_caches(members, prefix):
    assert not [m for m in members if m.startswith(prefix) or m == prefix.rstrip("/")]


def test_tarball_holds_no_bytecode_or_archives(members):
    assert not [m for m in members if m.endswith((".pyc", ".tar.gz")) or "__pycache__" in m]

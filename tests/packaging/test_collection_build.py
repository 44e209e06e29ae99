"""The collection tarball carries the collection, and none of the development tooling.

Installed from the tarball, every Python file it ships imports: nothing in it reaches for a file the
build leaves out (the unit tests once shipped while the OpenAPI contract they load and the helpers they
import stayed behind; the tests need the repository and ../shared, so none ship)."""

from __future__ import annotations

import os
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
    "tests/",
    "playbooks/offline_images.yml",
)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("build")
    subprocess.run(
        [str(GALAXY), "collection", "build", "--output-path", str(out), str(ROOT)], check=True, capture_output=True
    )
    (built,) = out.glob("cronicorn-monitoring-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def members(tarball) -> list[str]:
    with tarfile.open(tarball) as archive:
        return archive.getnames()


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory) -> pathlib.Path:
    """The tarball unpacked as ansible-galaxy installs it: {dir}/ansible_collections/cronicorn/monitoring."""
    target = tmp_path_factory.mktemp("installed")
    collection = target / "ansible_collections" / "cronicorn" / "monitoring"
    collection.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(collection, filter="data")
    return target


def _isolated(installed: pathlib.Path) -> dict[str, str]:
    """An environment where only the installed copy is ``ansible_collections.cronicorn.monitoring``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "PYTHON"))}
    return env | {"PYTHONPATH": str(installed), "ANSIBLE_COLLECTIONS_PATH": str(installed)}


def test_every_shipped_python_file_imports_from_the_installed_collection(members, installed):
    shipped = sorted(m for m in members if m.endswith(".py"))
    assert any(m.startswith("plugins/modules/") for m in shipped)
    script = (
        "import importlib, sys\n"
        "from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder\n"
        f"_AnsibleCollectionFinder(paths=[{str(installed)!r}])._install()\n"
        "for name in sys.argv[1:]:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(installed)!r}), module.__file__\n"
    )
    names = ["ansible_collections.cronicorn.monitoring." + m[: -len(".py")].replace("/", ".") for m in shipped]
    names = [n.removesuffix(".__init__") for n in names]
    run = subprocess.run(
        [sys.executable, "-c", script, *names],
        cwd=installed,
        env=_isolated(installed),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]


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

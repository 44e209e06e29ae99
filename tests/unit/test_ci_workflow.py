"""The GitHub Actions workflow of the collection's public home: what it runs, and that actionlint (run by
`make lint`) passes it and would catch a broken one."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
ACTIONLINT = Path(sys.executable).with_name("actionlint")
sys.path.insert(0, str(ROOT / "tests" / "contract"))

from openapi_contract import spec_path  # noqa: E402


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps_text(job: str) -> str:
    return "\n".join(str(step.get("run", "")) for step in workflow()["jobs"][job]["steps"])


def test_lint_sanity_and_unit_on_ansible_core_2_17_to_2_19():
    jobs = workflow()["jobs"]
    assert "make lint" in steps_text("lint")
    assert jobs["sanity-and-unit"]["strategy"]["matrix"]["ansible-core"] == ["2.17", "2.18", "2.19"]
    text = steps_text("sanity-and-unit")
    assert 'pip install "ansible-core~=${{ matrix.ansible-core }}.0"' in text
    assert "make sanity" in text
    assert "make unit" in text


def test_molecule_on_the_official_images_of_metabase_56_57_58():
    job = workflow()["jobs"]["molecule"]
    versions = job["strategy"]["matrix"]["metabase"]
    assert sorted(re.match(r"v0\.(\d+)\.\d+$", v)[1] for v in versions) == ["56", "57", "58"]
    assert "make molecule IMAGES=official" in steps_text("molecule")
    (step,) = [s for s in job["steps"] if "make molecule" in str(s.get("run", ""))]
    assert step["env"]["CRONICORN_MOLECULE_METABASE_IMAGE"] == "metabase/metabase:${{ matrix.metabase }}"


def test_the_contract_it_fetches_is_the_one_the_tests_use_here():
    env = workflow()["env"]
    assert "/01218580989e5ff018e16882850d62a07470f3c0/" in env["OPENAPI_URL"]
    assert hashlib.sha256(spec_path().read_bytes()).hexdigest() == env["OPENAPI_SHA256"]


def test_make_lint_runs_actionlint():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "\t$(BIN)/actionlint" in lint


def test_actionlint_passes_the_workflow():
    run = subprocess.run([str(ACTIONLINT), str(WORKFLOW)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "ci.yml"
    broken.parent.mkdir(parents=True)
    shutil.copy(WORKFLOW, broken)
    text = broken.read_text(encoding="utf-8").replace("${{ matrix.metabase }}", "${{ matrix.metabse }}", 1)
    broken.write_text(text, encoding="utf-8")
    run = subprocess.run([str(ACTIONLINT), str(broken)], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert "metabse" in run.stdout

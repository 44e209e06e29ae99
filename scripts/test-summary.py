"""Add up the JUnit reports of one `make test` run and print one closing line.

Exit status 1 when a report that the run must have written is missing (``--expect unit,integration,...``:
a stage that wrote no report did not run its tests, whatever its exit status said), when any test failed
or errored, when a report holds no test, or, under CI=true, when any test was skipped (a skipped test in
CI hides a missing prerequisite). The one exception: in a report of a run on the official images
(molecule-*-official.xml), the checks that only the Metabase double can answer are skipped by design, with a
reason that starts with "IMAGES=official:" (molecule/conftest.py).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import xml.etree.ElementTree as ET

#: The reports of `make test`: make unit, make integration, make molecule (both scenarios, and the dev scenario in
#: IMAGES=official mode on stand-ins), and the dev stack's guard (scripts/dev_stack_guard.py).
EXPECTED = ("unit", "integration", "molecule-dev", "molecule-production", "molecule-dev-official", "dev-stack")
OFFICIAL_SKIP = "IMAGES=official:"
KEYS = ("tests", "failures", "errors", "skipped")


def main(report_dir: str, expected: tuple[str, ...] = EXPECTED) -> int:
    directory = pathlib.Path(report_dir)
    totals = dict.fromkeys(KEYS, 0)
    unexpected_skips = 0
    problems = []
    for name in expected:
        if not (directory / f"{name}.xml").is_file():
            problems.append(f"missing report {name}.xml in {directory}: that stage did not run its tests")
    for report in sorted(directory.glob("*.xml")):
        try:
            root = ET.parse(report).getroot()  # noqa: S314 - reports written by this run's own pytest
        except ET.ParseError as exc:
            problems.append(f"{report.name} is not a JUnit report: {exc}")
            continue
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        counts = {key: sum(int(s.get(key, 0)) for s in suites) for key in KEYS}
        for key in KEYS:
            totals[key] += counts[key]
        print(f"  {report.name}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        if counts["tests"] == 0:
            problems.append(f"{report.name} holds no test")
        official = report.stem.endswith("-official")
        for skipped in root.iter("skipped"):
            if not (official and (skipped.get("message") or "").startswith(OFFICIAL_SKIP)):
                unexpected_skips += 1
    failed = totals["failures"] + totals["errors"]
    passed = totals["tests"] - failed - totals["skipped"]
    print(f"summary: {passed} passed, {failed} failed, {totals['skipped']} skipped")
    if failed:
        problems.append(f"{failed} test(s) failed")
    if os.environ.get("CI") == "true" and unexpected_skips:
        problems.append(f"{unexpected_skips} test(s) were skipped under CI=true")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", nargs="?", default=".tmp/reports")
    parser.add_argument(
        "--expect",
        default=",".join(EXPECTED),
        help="comma-separated report names (without .xml) that must be there (default: %(default)s)",
    )
    arguments = parser.parse_args()
    sys.exit(main(arguments.report_dir, tuple(name for name in arguments.expect.split(",") if name)))

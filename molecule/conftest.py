"""Shared by the scenarios' verify tests: molecule/ on sys.path (site_run, isolation, metabase_api), and the
``double_only`` marker.

``@pytest.mark.double_only("reason")`` marks a check that only the Metabase double can answer (its request
journal, kept in Metabase's application database). It is skipped, with its reason, when the scenario runs on the
official images (CRONICORN_MOLECULE_IMAGES=official, `make molecule IMAGES=official`), and only then: the
offline run of `make test` runs every test.
"""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

IMAGES = os.environ.get("CRONICORN_MOLECULE_IMAGES", "offline")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "double_only(reason): needs the Metabase double; skipped with IMAGES=official, only then"
    )


def pytest_collection_modifyitems(config, items):
    assert IMAGES in ("offline", "official"), f"CRONICORN_MOLECULE_IMAGES must be offline or official, not {IMAGES}"
    for item in items:
        marker = item.get_closest_marker("double_only")
        if marker is None:
            continue
        assert len(marker.args) == 1 and marker.args[0].strip(), f"{item.nodeid}: double_only needs its reason"
        if IMAGES == "official":
            item.add_marker(pytest.mark.skip(reason=f"IMAGES=official: {marker.args[0]}"))

"""Shared by the scenarios' verify tests: molecule/ on sys.path, for the site_run helper."""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

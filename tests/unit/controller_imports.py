"""Import controller code (a filter plugin, ansible.errors) into the unit tests' process without making the
modules tested in the same process behave as if they ran on the controller.

Importing ``ansible._internal`` (which ``ansible.errors`` does) sets ``ansible.module_utils._internal.
is_controller``; from then on a module's ``warn()`` goes to the controller's display instead of the module's
JSON result, and the module tests that read their warnings from the result fail. Collection imports every
test module before any test runs, so one import anywhere is enough to break them all.
"""

from __future__ import annotations

import contextlib

from ansible.module_utils import _internal


@contextlib.contextmanager
def module_side_kept():
    """Run imports of controller code, then put the module side's flag back."""
    was = _internal.is_controller
    try:
        yield
    finally:
        _internal.is_controller = was

"""Put an offline stand-in for pip's get-pip script where ansible-test looks for it.

ansible-test bootstraps pip in its virtual environments by running a get-pip script that it downloads
from a host this project cannot reach. It first looks in ~/.ansible/test/cache/get_pip_<version>.py;
this script writes there a file that installs pip with the interpreter's own `ensurepip`, then hands
its arguments to `pip install` (so the requested pip version comes from the package index).
"""

from __future__ import annotations

import pathlib
import re
import sys

SHIM = '''\
"""Offline get-pip stand-in written by cronicorn.monitoring (scripts/install-get-pip-shim.py)."""
import ensurepip
import os
import subprocess
import sys

# get-pip's own flags: pip install does not take them, and installs neither package unless asked.
OWN_FLAGS = {"--no-setuptools": "setuptools", "--no-wheel": "wheel"}
args = [a for a in sys.argv[1:] if a not in OWN_FLAGS]
unwanted = [OWN_FLAGS[a] for a in sys.argv[1:] if a in OWN_FLAGS]

ensurepip.bootstrap()
# ensurepip points PIP_CONFIG_FILE at os.devnull; drop it so the user's pip configuration applies again.
os.environ.pop("PIP_CONFIG_FILE", None)
pip = [sys.executable, "-m", "pip"]
status = subprocess.call([*pip, "install", *args])
if status == 0 and unwanted:
    # ensurepip brings setuptools along; remove what the caller asked not to have.
    status = subprocess.call([*pip, "uninstall", "--yes", "--quiet", *unwanted])
sys.exit(status)
'''


def pip_versions() -> set[str]:
    import ansible_test  # noqa: PLC0415 - only importable inside the project's virtualenv

    source = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    versions = set(re.findall(r"pip='([0-9.]+)'", source.read_text(encoding="utf-8")))
    if not versions:
        sys.exit(f"could not find ansible-test's pip version in {source}")
    return versions


def main() -> None:
    cache = pathlib.Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for version in sorted(pip_versions()):
        target = cache / f"get_pip_{version.replace('.', '_')}.py"
        if not target.exists() or target.read_text(encoding="utf-8") != SHIM:
            target.write_text(SHIM, encoding="utf-8")
            print(f"wrote {target}")


if __name__ == "__main__":
    main()

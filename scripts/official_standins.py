"""Run a command with the offline stand-in images also tagged under the official names, then remove those tags.

`make molecule IMAGES=official` needs postgres:15.13, metabase/metabase:v0.58.5 and nginx:1.27.3, which a machine
without a registry cannot pull. To prove the wiring of that mode anyway (the image variables, the `double_only`
skips, the report names), `make molecule` runs the dev scenario in that mode on the stand-ins tagged with those
names. Throwaway and non-clobbering: a name that already exists (a real official image) is left alone and used as
it is; only the tags this script added are removed afterwards (`docker rmi` of a tag that another tag still
references removes only that tag), also when the command fails.

    python scripts/official_standins.py -- molecule test -s dev
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import docker
import docker.errors
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pairs() -> list[tuple[str, str]]:
    """(offline stand-in, official name) for each image a scenario runs: the roles' defaults are the official ones."""
    offline = yaml.safe_load((ROOT / "playbooks/vars/images-offline.yml").read_text(encoding="utf-8"))
    found = []
    for role, key in (("postgres", "postgres_image"), ("metabase", "metabase_image"), ("proxy", "proxy_image")):
        defaults = yaml.safe_load((ROOT / f"roles/{role}/defaults/main.yml").read_text(encoding="utf-8"))
        found.append((offline[key], defaults[key]))
    return found


def main(command: list[str]) -> int:
    client = docker.from_env()
    added = []
    try:
        for standin, official in pairs():
            try:
                client.images.get(official)
                print(f"official_standins: {official} exists, used as it is")
                continue
            except docker.errors.ImageNotFound:
                pass
            repository, tag = official.rsplit(":", 1)
            client.images.get(standin).tag(repository, tag)
            added.append(official)
            print(f"official_standins: tagged {standin} as {official} (removed afterwards)")
        return subprocess.run(command, check=False).returncode  # noqa: S603 - the command the Makefile gives
    finally:
        for official in added:
            client.images.remove(official, noprune=True)
            print(f"official_standins: removed the tag {official}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    if not arguments:
        sys.exit("usage: official_standins.py -- COMMAND [ARG...]")
    sys.exit(main(arguments))

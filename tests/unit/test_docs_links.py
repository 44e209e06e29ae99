"""Every relative link in the collection's Markdown resolves: the file exists, and a #fragment names a
heading of the target (GitHub's anchors). External links (http:, https:, mailto:) are not followed.

Paths of the repository named in any text file (a playbook's "see docs/runbooks/stop.md", a README's
`docs/views.md`) must exist too: they are links a reader follows by hand."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


MENTION = re.compile(
    r"(?<![\w./<-])((?:docs|roles|playbooks|images|inventory|molecule|tests|scripts|changelogs|meta|plugins)/"
    r"[\w./-]+\.(?:md|ya?ml|py|sql|j2|txt|cfg))(?![\w/])"
)
TEXT_SUFFIXES = {".md", ".yml", ".yaml", ".py", ".j2", ".cfg", ".txt", ".sql", ".sh", ".toml", ""}


def tracked(*patterns: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if not name.startswith(("collections/", ".tmp/")) and (ROOT / name).exists()]


def markdown_files() -> list[Path]:
    return tracked("*.md")


def text_files() -> list[Path]:
    return [path for path in tracked() if path.suffix in TEXT_SUFFIXES and path.is_file()]


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are not links."""
    return CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = unicodedata.normalize("NFKC", text.replace("`", "")).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    found, seen = set(), {}
    for heading in HEADING.findall(text):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found | set(HTML_ANCHOR.findall(text))


def links(path: Path) -> list[str]:
    text = prose(path.read_text(encoding="utf-8"))
    return LINK.findall(text) + IMAGE.findall(text) + REFERENCE.findall(text)


def problems(path: Path) -> list[str]:
    found = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # http:, https:, mailto: ...
        file_part, _hash, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            found.append(
                f"{target}: no such file {resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved}"
            )
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            found.append(f"{target}: no heading #{fragment} in {resolved.relative_to(ROOT)}")
    return found


def missing_mentions(path: Path) -> list[str]:
    """Repository paths named in ``path`` that exist neither from the root nor in a role (``a role's
    meta/argument_specs.yml``, ``defaults/main.yml`` in a role's README)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return []
    bases = [ROOT, *sorted((ROOT / "roles").glob("*/"))]
    return sorted(
        {mention for mention in MENTION.findall(text) if not any((base / mention).exists() for base in bases)}
    )


FILES = markdown_files()


def test_there_is_markdown_to_check():
    names = {str(path.relative_to(ROOT)) for path in FILES}
    assert {"README.md", "docs/runbooks/stop.md", "docs/runbooks/start.md"} <= names


@pytest.mark.parametrize("path", FILES, ids=[str(path.relative_to(ROOT)) for path in FILES])
def test_relative_links_resolve(path):
    assert problems(path) == []


def test_repository_paths_named_in_text_files_exist():
    self_name = Path(__file__).resolve()
    found = {
        str(path.relative_to(ROOT)): missing
        for path in text_files()
        if path.resolve() != self_name and (missing := missing_mentions(path))
    }
    assert found == {}


def test_the_checker_finds_what_it_must(tmp_path, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    (tmp_path / "target.md").write_text("# Stop and start\n\n## Stop and start\n\n## `make deploy`, then\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](target.md) [ok](target.md#stop-and-start) [ok](target.md#stop-and-start-1)\n"
        "[ok](target.md#make-deploy-then) [ok](https://example.com/x.md) [ok](#here)\n"
        "# Here\n"
        "`[no](code.md)`\n```\n[no](fenced.md)\n```\n"
        "[bad](missing.md) [bad](target.md#nowhere)\n[ref]: gone.md\n"
    )
    assert problems(page) == [
        "missing.md: no such file missing.md",
        "target.md#nowhere: no heading #nowhere in target.md",
        "gone.md: no such file gone.md",
    ]


def test_mentions_resolve_from_the_root_or_the_role(tmp_path, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "views.md").write_text("# Views\n")
    role = tmp_path / "roles" / "r"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text("---\n")
    (role / "README.md").write_text("See meta/argument_specs.yml and docs/views.md, not docs/gone.md.\n")
    play = tmp_path / "play.yml"
    play.write_text("# Runbook (docs/runbooks/stop-start.md), options in meta/argument_specs.yml, not meta/x.yml\n")
    assert missing_mentions(role / "README.md") == ["docs/gone.md"]
    assert missing_mentions(play) == ["docs/runbooks/stop-start.md", "meta/x.yml"]

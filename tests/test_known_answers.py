"""The published known answers are the repository's own, and each one names its source.

The suite must pass in a clone with nothing beside it (issue 12): the known answers are kept
in tests/data/known-answers.json, not read from a sibling folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.conftest import KNOWN_ANSWERS, REPO

SECTIONS = ("rfc9162", "signed_note", "tiles", "checkpoint", "witness")
SOURCE_WORDS = ("RFC 9162", "C2SP", "golang.org/x/mod", "sigsum-go", "litewitness")


def _sources(section: dict[str, Any]) -> list[str]:
    """The sources named in a section: its own, or else each of its parts'."""
    if "source" in section:
        return [section["source"]]
    found = []
    for name, part in section.items():
        parts = part if isinstance(part, list) else [part]
        for item in parts:
            assert isinstance(item, dict), name
            assert item.get("source"), f"{name}: no source named"
            found.append(item["source"])
    return found


def test_every_known_answer_names_its_published_source(known_answers: dict[str, Any]) -> None:
    assert KNOWN_ANSWERS.is_relative_to(REPO)
    assert set(known_answers) == {"about", *SECTIONS}
    for name in SECTIONS:
        sources = _sources(known_answers[name])
        assert sources, name
        for source in sources:
            assert any(word in source for word in SOURCE_WORDS), f"{name}: {source!r}"


def test_the_data_readme_lists_every_section() -> None:
    readme = (REPO / "tests" / "data" / "README.md").read_text("utf-8")
    for name in SECTIONS:
        assert f"| `{name}" in readme, name


def test_no_code_or_test_reads_outside_the_repository() -> None:
    # A sibling of the checkout, by relative path or from the repository's root.
    outside = re.compile(r"""\.\./shared|["']shared["']\s*/|REPO\.parent\b|/work/shared""")
    checked = 0
    for top in ("keybundle", "transparency_log", "cli", "testvectors", "tests", "scripts", ".ci"):
        for path in sorted((REPO / top).rglob("*")):
            if path.suffix not in (".py", ".sh", "") or not path.is_file():
                continue
            if path == Path(__file__).resolve():
                continue
            checked += 1
            text = path.read_text("utf-8", errors="replace")
            assert not outside.search(text), f"{path.relative_to(REPO)} reads outside the repo"
    assert checked > 50

"""Deterministic generator of the conformance vectors (SPEC §12): testvectors/<family>/<name>.json.

Every key comes from a fixed seed, every time from a fixed clock (testvectors/world.py), and
the files are written with sorted keys, a fixed indentation and one final newline, so that
regenerating gives identical bytes. CI regenerates into a temporary directory and compares
(``keybundle vectors generate --check``): a change to the library's behaviour or to the world
shows up as a difference to review, never as silently republished vectors.

Run it as ``keybundle vectors generate [--check] [--out DIR]`` or
``python -m testvectors.generate [--check] [DIR]`` from a source checkout.
"""

from __future__ import annotations

import difflib
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from keybundle.conformance import FAMILIES

from .vectorset import VectorMismatchError, VectorSet, render

__all__ = [
    "DEFAULT_DIR",
    "Difference",
    "VectorMismatchError",
    "build",
    "check",
    "main",
    "summary",
    "write",
]

DEFAULT_DIR: Final = Path(__file__).resolve().parent
"""The published vectors: testvectors/ itself, one subdirectory per family."""
_DIFF_LINES: Final = 12


@dataclass(frozen=True)
class Difference:
    """One file that differs between the published vectors and a fresh generation."""

    path: str
    """``<family>/<name>.json``."""
    kind: str
    """``missing`` (not published), ``extra`` (published, no longer generated) or ``changed``."""
    diff: tuple[str, ...] = ()
    """The first lines of a unified diff, for ``changed``."""


def build() -> dict[str, bytes]:
    """Every vector file, ``{"<family>/<name>.json": bytes}``, in family order.

    Raises :class:`VectorMismatchError` when our library's answer to a case is not the one
    the case intends.
    """
    from .families_bundle import add_bundle_families
    from .families_client import add_client_family
    from .families_evidence import add_evidence_family
    from .families_log import add_log_families
    from .families_trust import add_trust_families

    vs = VectorSet()
    add_log_families(vs)
    add_bundle_families(vs)
    add_trust_families(vs)
    add_evidence_family(vs)
    add_client_family(vs)
    order = {family: i for i, family in enumerate(FAMILIES)}
    ordered = sorted(vs.vectors.items(), key=lambda item: (order[item[0][0]], item[0][1]))
    return {f"{family}/{name}.json": render(vector) for (family, name), vector in ordered}


def _is_vector(path: Path, family: str) -> bool:
    """Whether ``path`` is a vector file of ``family`` (only those are ever removed)."""
    try:
        data: Any = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return type(data) is dict and data.get("family") == family


def _published(out: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for family in FAMILIES:
        folder = out / family
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                if _is_vector(path, family):
                    found[f"{family}/{path.name}"] = path
    return found


def write(out: str | Path, files: dict[str, bytes] | None = None) -> int:
    """Write the vectors under ``out``; remove vector files no longer generated.

    Only ``*.json`` files that are vectors of the family of their directory are removed;
    no directory is ever removed. Returns the number of files written.
    """
    root = Path(out)
    files = build() if files is None else files
    for stale in set(_published(root)) - set(files):
        (root / stale).unlink()
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    return len(files)


def check(out: str | Path) -> list[Difference]:
    """Regenerate into a temporary directory and compare with the vectors under ``out``.

    The fresh files are written to disk (and read back) exactly as :func:`write` does, so
    the comparison is of bytes on disk. Returns the differences, none when up to date.
    """
    root = Path(out)
    published = _published(root)
    with tempfile.TemporaryDirectory(prefix="keybundle-vectors-") as tmp:
        write(tmp)
        fresh = _published(Path(tmp))
        differences: list[Difference] = []
        for relative in sorted(set(fresh) | set(published)):
            if relative not in published:
                differences.append(Difference(relative, "missing"))
            elif relative not in fresh:
                differences.append(Difference(relative, "extra"))
            else:
                old = published[relative].read_bytes()
                new = fresh[relative].read_bytes()
                if old != new:
                    lines = difflib.unified_diff(
                        old.decode("utf-8", "replace").splitlines(),
                        new.decode("utf-8", "replace").splitlines(),
                        f"published/{relative}",
                        f"generated/{relative}",
                        lineterm="",
                    )
                    differences.append(
                        Difference(relative, "changed", tuple(list(lines)[:_DIFF_LINES]))
                    )
    return differences


def summary(differences: Sequence[Difference]) -> str:
    """The differences as text: one line per file, then the start of each diff."""
    lines = [f"{len(differences)} vector file(s) differ from a fresh generation:"]
    lines.extend(f"  {d.kind}: {d.path}" for d in differences)
    for d in differences:
        lines.extend(d.diff)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m testvectors.generate [--check] [DIR]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    checking = "--check" in args
    rest = [a for a in args if a != "--check"]
    if len(rest) > 1:
        sys.stderr.write("usage: python -m testvectors.generate [--check] [DIR]\n")
        return 2
    out = Path(rest[0]) if rest else DEFAULT_DIR
    if checking:
        differences = check(out)
        if differences:
            sys.stderr.write(summary(differences) + "\n")
            return 1
        sys.stdout.write(f"vectors in {out} are up to date\n")
        return 0
    count = write(out)
    sys.stdout.write(f"wrote {count} vectors to {out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

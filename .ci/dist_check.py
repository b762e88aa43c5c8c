"""CI checks of what users install (.ci/run): the sdist's and the wheel's contents, the client
venv's distributions, and the README's Python client example. Standard library only: it runs
in venvs that hold nothing but the installed wheel.

    python .ci/dist_check.py contents DIST_DIR REPO   # the sdist and the wheel in DIST_DIR
    python .ci/dist_check.py client-env               # run by the client venv's python
    python .ci/dist_check.py readme-example README    # print the README's Python example
    python .ci/dist_check.py sizes VENV...             # each venv's installed size

Each check prints one line per failure and exits 1 if any failed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

CLIENT_DISTRIBUTIONS = {"keybundle", "cryptography", "pynacl", "cbor2", "cffi", "pycparser"}
"""The client-only install: keybundle, its three dependencies and what they require."""
VENV_TOOLS = {"pip", "setuptools", "wheel"}
VENV_TOOL_FILES = re.compile(r"(pip|setuptools|wheel|_distutils_hack|pkg_resources)\b|distutils-")
"""What ``python -m venv`` puts in site-packages itself, left out of the sizes."""
CLIENT_IMPORT = (
    "import time; t = time.perf_counter(); "
    "from keybundle import StateDir, VerificationError, verify_package, verify_self_signed; "
    "import keybundle.client; print(time.perf_counter() - t)"
)
"""The README client example's import, timed in a fresh interpreter."""
OPERATOR_MODULES = ("click", "requests", "waitress", "prometheus_client", "urllib3", "pkcs11")
SDIST_REQUIRED = (
    "LICENSE",
    "README.md",
    "SPEC.md",
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    ".ci/run",
    "scripts/test.sh",
    "scripts/demo.sh",
    "deploy/nginx/keybundle-log.conf",
    "testvectors/README.md",
    "testvectors/generate.py",
    "tests/conftest.py",
    "tests/data/known-answers.json",
    "tests/data/README.md",
)
NOT_IN_SDIST = {".gitignore"}
"""Tracked files the sdist leaves out on purpose."""


def _fail(problems: list[str]) -> int:
    for problem in problems:
        print(f"dist check: {problem}")
    return 1 if problems else 0


def _vector_counts(paths: list[str], prefix: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    pattern = re.compile(re.escape(prefix) + r"([a-z0-9-]+)/[^/]+\.json$")
    for path in paths:
        m = pattern.match(path)
        if m:
            counts[m[1]] = counts.get(m[1], 0) + 1
    return counts


def _tracked_files(repo: Path) -> list[str] | None:
    """The checkout's tracked files (None outside a git checkout, e.g. in an unpacked sdist)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "ls-files", "-z"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [p for p in out.decode().split("\0") if p and not (repo / p).is_dir()]


def contents(dist: Path, repo: Path) -> int:
    """The sdist is the whole project; the wheel is the packages and every vector."""
    problems: list[str] = []
    (sdist,) = sorted(dist.glob("keybundle-*.tar.gz"))
    (wheel,) = sorted(dist.glob("keybundle-*.whl"))
    with tarfile.open(sdist) as tar:
        members = [m.name for m in tar.getmembers() if m.isfile()]
    top = members[0].split("/")[0]
    in_sdist = sorted(str(PurePosixPath(m).relative_to(top)) for m in members)
    for path in SDIST_REQUIRED:
        if path not in in_sdist:
            problems.append(f"sdist: no {path}")
    tracked = _tracked_files(repo)
    if tracked is not None:
        for path in sorted(set(tracked) - set(in_sdist) - NOT_IN_SDIST):
            problems.append(f"sdist: tracked file {path} is missing")
    on_disk = sorted(str(p.relative_to(repo)) for p in repo.glob("testvectors/*/*.json"))
    want = _vector_counts(on_disk, "testvectors/")
    if _vector_counts(in_sdist, "testvectors/") != want:
        problems.append("sdist: the vectors differ from testvectors/")

    with zipfile.ZipFile(wheel) as whl:
        in_wheel = whl.namelist()
        metadata_name = next(n for n in in_wheel if n.endswith(".dist-info/METADATA"))
        metadata = whl.read(metadata_name).decode()
    if _vector_counts(in_wheel, "keybundle_vectors/") != want:
        problems.append("wheel: keybundle_vectors/ does not hold every vector of testvectors/")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in in_wheel):
        problems.append("wheel: no LICENSE in its .dist-info")
    tops = {n.split("/")[0] for n in in_wheel if not n.split("/")[0].endswith(".dist-info")}
    if tops != {"keybundle", "transparency_log", "keybundle_cli", "keybundle_vectors"}:
        problems.append(f"wheel: unexpected top-level entries {sorted(tops)}")
    generator = [n for n in in_wheel if re.match(r"keybundle_vectors/(?!__init__)[^/]+\.py$", n)]
    if generator:
        problems.append(f"wheel: carries the vector generator {generator}")
    base = sorted(
        re.split(r"[<>=!~ ;\[]", line.removeprefix("Requires-Dist: "))[0].lower()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    )
    if base != ["cbor2", "cryptography", "pynacl"]:
        problems.append(f"wheel: base dependencies are {base}, not the client verifier's")
    if not problems:
        vectors = sum(want.values())
        print(f"dist check: sdist {len(in_sdist)} files, wheel {len(in_wheel)}, {vectors} vectors")
    return _fail(problems)


def client_env() -> int:
    """The client venv holds keybundle and the verifier's dependencies, nothing else."""
    problems: list[str] = []
    installed = {
        (d.metadata["Name"] or "").lower().replace("_", "-")
        for d in importlib.metadata.distributions()
    }
    extra = installed - CLIENT_DISTRIBUTIONS - VENV_TOOLS
    if extra:
        problems.append(f"client venv: more than the client's dependencies: {sorted(extra)}")
    if CLIENT_DISTRIBUTIONS - installed:
        problems.append(f"client venv: missing {sorted(CLIENT_DISTRIBUTIONS - installed)}")
    present = [m for m in OPERATOR_MODULES if importlib.util.find_spec(m) is not None]
    if present:
        problems.append(f"client venv: operator modules importable: {present}")
    if not problems:
        print(f"dist check: client venv holds {', '.join(sorted(installed - VENV_TOOLS))}")
        times = [
            float(
                subprocess.run(
                    [sys.executable, "-I", "-c", CLIENT_IMPORT],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=60,
                ).stdout
            )
            for _ in range(5)
        ]
        print(f"dist check: client import {statistics.median(times) * 1000:.0f} ms (median of 5)")
    return _fail(problems)


def sizes(venvs: list[Path]) -> int:
    """Each venv's site-packages size in MB, without what venv itself installs (pip)."""
    for root in venvs:
        (site,) = sorted(root.glob("lib/python3*/site-packages"))
        total = 0
        for entry in site.iterdir():
            if VENV_TOOL_FILES.match(entry.name):
                continue
            files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
            total += sum(os.stat(p, follow_symlinks=False).st_size for p in files)
        print(f"dist check: {root.name} install: {total / 1e6:.1f} MB in site-packages")
    return 0


def readme_example(readme: Path) -> int:
    """Print the README's Python client example (the block tagged ``readme-test: python``)."""
    text = readme.read_text("utf-8")
    m = re.search(r"<!-- readme-test: python -->\n```python\n(.*?)^```$", text, re.M | re.S)
    if m is None:
        return _fail(["README: no Python client example (readme-test: python)"])
    sys.stdout.write(m[1])
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["contents"] and len(argv) == 3:
        return contents(Path(argv[1]), Path(argv[2]))
    if argv == ["client-env"]:
        return client_env()
    if argv[:1] == ["readme-example"] and len(argv) == 2:
        return readme_example(Path(argv[1]))
    if argv[:1] == ["sizes"] and len(argv) > 1:
        return sizes([Path(a) for a in argv[1:]])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

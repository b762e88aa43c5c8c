"""The layout tells the design: the client's modules, as listed, are what a client imports.

The import contracts themselves run as ``lint-imports`` (scripts/test.sh); this keeps the list
they check, the README's table and the real import closure of the client in step.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from tests.conftest import REPO


def _contract_modules() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (client,) = [c for c in contracts if c["type"] == "forbidden"]
    return set(client["source_modules"])


def _imported_by_the_client() -> set[str]:
    code = (
        "import sys, keybundle.client, keybundle.embedded; "
        "print('\\n'.join(m for m in sys.modules if m.startswith(('keybundle.', "
        "'transparency_log.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_contract_covers_every_module_the_client_imports() -> None:
    missing = _imported_by_the_client() - _contract_modules()
    assert not missing, f"add these to the client contract and the README: {sorted(missing)}"


def test_the_readme_lists_the_client_modules_of_the_contract() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    # The table under "What a client embeds" (other tables name these packages too).
    readme = text[text.index("| package | modules a client embeds |") :]
    listed: set[str] = set()
    for package in ("keybundle", "transparency_log"):
        row = re.search(rf"^\| `{package}` \| (.+) \|$", readme, re.MULTILINE)
        assert row is not None, f"README has no client row for {package}"
        listed |= {f"{package}.{name}" for name in re.findall(r"`(\w+)`", row.group(1))}
    assert listed == _contract_modules()


_EXCEPTION_BASES = re.compile(r"(Error|Exception|Exit|Warning|Signature|Interrupt)$")


def test_every_public_exception_of_a_package_is_defined_in_its_errors_module() -> None:
    """One exceptions module per package (issue 15): a caller finds every error type, and
    its kind, in ``errors.py``; other modules only re-export the ones they raise. Private
    control-flow signals (``_GiveUp``) stay beside the code that raises and catches them."""
    import ast

    strays = []
    for package in ("keybundle", "transparency_log"):
        for path in sorted((REPO / package).glob("*.py")):
            if path.name == "errors.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                    continue
                bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
                if any(_EXCEPTION_BASES.search(b) or b == "LookupError" for b in bases):
                    strays.append(f"{package}/{path.name}: {node.name}")
    assert strays == []

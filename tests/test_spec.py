"""SPEC.md §9 and the code list the same closed set of reason codes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from keybundle.errors import Reason
from transparency_log.errors import LogReason

REPO = Path(__file__).resolve().parent.parent
_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \| (.+) \|$", re.MULTILINE)


def spec_reason_table() -> dict[str, str]:
    """Code -> text of the rows of SPEC §9's table (between its heading and §10)."""
    spec = (REPO / "SPEC.md").read_text(encoding="utf-8")
    start = spec.index("\n## 9. Reason codes\n")
    end = spec.index("\n## 10. ", start)
    rows = _ROW.findall(spec[start:end])
    codes = [code for code, _ in rows]
    assert len(codes) == len(set(codes)), "a code has two rows in SPEC §9"
    return dict(rows)


def enum_docstrings(path: Path, class_name: str) -> dict[str, str]:
    """Member name -> the docstring under it, read from the source (SPEC §9 one-liners)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    (cls,) = (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == class_name)
    docs: dict[str, str] = {}
    for assign, doc in zip(cls.body, cls.body[1:], strict=False):
        if (
            isinstance(assign, ast.Assign)
            and isinstance(assign.targets[0], ast.Name)
            and isinstance(doc, ast.Expr)
            and isinstance(doc.value, ast.Constant)
            and isinstance(doc.value.value, str)
        ):
            docs[assign.targets[0].id] = doc.value.value
    return docs


def test_spec_table_lists_exactly_the_codes_of_both_enums() -> None:
    table = set(spec_reason_table())
    code = {r.value for r in LogReason} | {r.value for r in Reason}
    assert table - code == set(), "SPEC §9 lists codes the code does not have"
    assert code - table == set(), "the code has reason codes SPEC §9 does not list"


def test_the_two_enums_do_not_overlap() -> None:
    assert {r.value for r in LogReason} & {r.value for r in Reason} == set()


def test_each_code_is_its_own_name() -> None:
    for reason in [*LogReason, *Reason]:
        assert reason.name == reason.value


def test_each_code_has_the_spec_text_as_its_docstring() -> None:
    table = spec_reason_table()
    docs = {
        **enum_docstrings(REPO / "transparency_log" / "errors.py", "LogReason"),
        **enum_docstrings(REPO / "keybundle" / "errors.py", "Reason"),
    }
    assert set(docs) == {r.name for r in [*LogReason, *Reason]}, "a code lacks its docstring"
    different = {code: (docs[code], text) for code, text in table.items() if docs[code] != text}
    assert different == {}, "docstring and SPEC §9 row differ (docstring, SPEC)"


def _spec_hex_blocks() -> set[str]:
    """Every fenced block of SPEC.md that is only hex digits, joined into one string."""
    spec = (REPO / "SPEC.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```\n((?:[0-9a-f]+\n)+)```$", spec, re.MULTILINE)
    return {"".join(block.split()) for block in blocks}


def test_spec_cose_examples_are_the_tested_bytes() -> None:
    """SPEC §4.1-§4.2 print the known-answer COSE bytes that tests/keybundle/test_cose.py
    pins; a hand-edited example that drifts from the code is caught here."""
    from tests.keybundle.test_cose import COUNTERSIGNED_HEX, SIGNED_HEX

    blocks = _spec_hex_blocks()
    for name, value in (("SIGNED_HEX", SIGNED_HEX), ("COUNTERSIGNED_HEX", COUNTERSIGNED_HEX)):
        assert value in blocks, f"SPEC.md does not print test_cose.{name} as a hex block"


def test_each_limit_of_spec_11_is_named_once() -> None:
    """A named limit has one value: two rows with one name leave the reader to guess which."""
    spec = (REPO / "SPEC.md").read_text(encoding="utf-8")
    section = spec[spec.index("\n## 11. Limits\n") : spec.index("<!-- limits-table -->")]
    names = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, re.MULTILINE)
    assert len(names) > 50
    assert sorted({n for n in names if names.count(n) > 1}) == []
